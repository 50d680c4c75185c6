// UploadAssembler: turns the messages of one ModelService.Upload stream (a
// header, then file chunks) into a LoadRequest. Pure bookkeeping with no gRPC
// stream in it, so the fuzzer (fuzz/upload_stream_fuzzer.cc) and unit tests
// drive exactly the code the RPC runs.
//
// Every chunk is checked before it is stored: its path must be one of the
// upload files and the running total (plus the config) must stay within the
// upload limit, so an oversized or hostile stream stops at the first bad
// chunk. Errors are INVALID_ARGUMENT, or RESOURCE_EXHAUSTED for the limit.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "q8serve/v1/model_service.pb.h"
#include "server/model_loader.h"

namespace q8::server {

class UploadAssembler {
 public:
  // Checks the header (name, version, announced size against the limit).
  static absl::StatusOr<UploadAssembler> Start(const q8serve::v1::UploadHeader& header, int64_t max_upload_bytes);

  // Takes the chunk's data (moved out of `chunk`).
  absl::Status Add(q8serve::v1::FileChunk* chunk);

  // After the last chunk: the announced size must match and a model.onnx
  // must be present. The request's file views point into this assembler,
  // which must outlive them.
  absl::StatusOr<LoadRequest> Finish() const;

  const std::string& name() const { return header_.model_name(); }
  int64_t version() const { return version_; }
  int64_t received() const { return received_; }
  int64_t total_bytes() const { return header_.total_bytes(); }

 private:
  UploadAssembler() = default;

  q8serve::v1::UploadHeader header_;
  int64_t version_ = 1;
  int64_t max_upload_bytes_ = 0;
  int64_t config_bytes_ = 0;
  int64_t received_ = 0;
  std::map<std::string, std::string> files_;  // path relative to the version directory -> bytes
};

}  // namespace q8::server
