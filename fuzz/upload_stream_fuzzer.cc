// The two upload assemblers: ModelService.Upload's stream of messages
// (server::UploadAssembler) and RepositoryModelLoad's parameters
// (server::ParseLoadRequest -> UploadFiles).
//
// Input layout: byte 0 picks the path (bit 0) and the upload limit (bits 1-3);
// the rest is a sequence of frames [u16 little-endian length][message bytes].
// Streamed path: the first frame is the UploadHeader, each further frame a
// FileChunk, fed as the RPC would until the first error. Load path: the first
// frame is a RepositoryModelLoadRequest.
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <vector>

#include "absl/strings/string_view.h"
#include "fuzz/fuzz_env.h"
#include "inference.pb.h"
#include "q8serve/v1/model_service.pb.h"
#include "server/model_loader.h"
#include "server/upload_assembler.h"

namespace {

constexpr int64_t kLimits[] = {0, 1, 64, 4096, 1 << 20, 1 << 30, std::numeric_limits<int64_t>::max(), 100};

// Every accepted file view must be readable and within what was sent.
void CheckRequest(const q8::server::LoadRequest& request, size_t input_size) {
  size_t total = 0;
  volatile uint8_t sink = 0;
  for (const auto& [version, files] : request.files) {
    if (version < 1) abort();
    std::vector<const q8::server::UploadedFile*> all = {&files.model};
    if (files.calibration_inputs) all.push_back(&*files.calibration_inputs);
    if (files.calibration_labels) all.push_back(&*files.calibration_labels);
    if (files.calibration_labels && !files.calibration_inputs) abort();
    for (const q8::server::UploadedFile* f : all) {
      for (char c : f->bytes) sink = sink ^ static_cast<uint8_t>(c);
      total += f->bytes.size();
    }
  }
  // Shared calibration files may back several versions; model files may not exceed the input.
  if (request.files.size() == 1 && total > input_size) abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  q8::fuzz::QuietProcess();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool streamed = (data[0] & 1) == 0;
  const int64_t limit = kLimits[(data[0] >> 1) & 7];
  std::vector<absl::string_view> frames;
  for (size_t pos = 1; pos + 2 <= size;) {
    const size_t len = data[pos] | (size_t{data[pos + 1]} << 8);
    pos += 2;
    const size_t take = std::min(len, size - pos);
    frames.emplace_back(reinterpret_cast<const char*>(data + pos), take);
    pos += take;
  }
  if (frames.empty()) return 0;

  if (!streamed) {
    inference::RepositoryModelLoadRequest load;
    if (!load.ParseFromArray(frames[0].data(), static_cast<int>(frames[0].size()))) return 0;
    auto request = q8::server::ParseLoadRequest(load, limit);
    if (request.ok()) CheckRequest(*request, size);
    return 0;
  }

  q8serve::v1::UploadHeader header;
  if (!header.ParseFromArray(frames[0].data(), static_cast<int>(frames[0].size()))) return 0;
  auto upload = q8::server::UploadAssembler::Start(header, limit);
  if (!upload.ok()) return 0;
  for (size_t i = 1; i < frames.size(); ++i) {
    q8serve::v1::FileChunk chunk;
    if (!chunk.ParseFromArray(frames[i].data(), static_cast<int>(frames[i].size()))) return 0;
    if (!upload->Add(&chunk).ok()) return 0;
    if (upload->received() > limit) abort();
  }
  auto request = upload->Finish();
  if (!request.ok()) return 0;
  if (request->files.size() != 1 || request->files.count(upload->version()) != 1) abort();
  CheckRequest(*request, size);
  return 0;
}
