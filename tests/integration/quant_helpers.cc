#include "tests/integration/quant_helpers.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/npy.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"

namespace q8::testing {

namespace pb = q8serve::v1;

std::string NpyBytes(const core::Tensor& tensor) { return core::SerializeNpy(tensor.view()); }

std::string CalibrationInputsNpy(int rows) {
  core::Tensor t(core::DataType::kFloat32, {rows, 1, 28, 28});
  std::memcpy(t.data(), TestImages().data(), static_cast<size_t>(rows) * 28 * 28 * sizeof(float));
  return NpyBytes(t);
}

std::string CalibrationLabelsNpy(int rows) {
  core::Tensor t(core::DataType::kInt64, {rows});
  std::memcpy(t.data(), TestLabels().data(), static_cast<size_t>(rows) * sizeof(int64_t));
  return NpyBytes(t);
}

StreamedUpload StreamUpload(ModelStub& stub, const std::string& name, int64_t version,
                            const std::optional<std::string>& config, const std::vector<UploadFile>& files,
                            size_t chunk) {
  StreamedUpload out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = stub.Upload(&ctx);
  pb::UploadRequest header;
  header.mutable_header()->set_model_name(name);
  header.mutable_header()->set_version(version);
  int64_t total = 0;
  for (const auto& f : files) total += static_cast<int64_t>(f.bytes.size());
  header.mutable_header()->set_total_bytes(total);
  if (config) header.mutable_header()->set_config_json(*config);
  // The server answers one Received event per chunk; they are tiny, so
  // writing everything before reading cannot fill the flow-control window.
  bool ok = stream->Write(header);
  for (const auto& f : files) {
    for (size_t off = 0; ok && off < std::max<size_t>(f.bytes.size(), 1); off += chunk) {
      pb::UploadRequest req;
      req.mutable_chunk()->set_path(f.path);
      req.mutable_chunk()->set_data(f.bytes.substr(off, std::min(chunk, f.bytes.size() - off)));
      ok = stream->Write(req);
    }
  }
  stream->WritesDone();
  pb::UploadEvent event;
  while (stream->Read(&event)) {
    if (event.has_result()) out.result = event.result();
    out.events.push_back(event);
  }
  out.status = stream->Finish();
  return out;
}

grpc::Status GetReport(ModelStub& stub, const std::string& name, int64_t version, std::string* report_json,
                       std::string* serving_state) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  pb::GetReportRequest req;
  req.set_model_name(name);
  req.set_version(version);
  pb::GetReportResponse resp;
  grpc::Status s = stub.GetReport(&ctx, req, &resp);
  *report_json = resp.report_json();
  if (serving_state != nullptr) *serving_state = resp.serving_state();
  return s;
}

grpc::Status ExportModel(ModelStub& stub, const std::string& name, int64_t version, std::string* onnx_bytes) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  pb::ExportRequest req;
  req.set_model_name(name);
  req.set_version(version);
  auto reader = stub.Export(&ctx, req);
  pb::ExportChunk chunk;
  onnx_bytes->clear();
  int64_t total = -1;
  while (reader->Read(&chunk)) {
    onnx_bytes->append(chunk.data());
    total = chunk.total_bytes();
  }
  grpc::Status s = reader->Finish();
  if (s.ok()) {
    EXPECT_EQ(total, static_cast<int64_t>(onnx_bytes->size()));
  }
  return s;
}

std::string RawLogits(inference::GRPCInferenceService::Stub& stub, const std::string& model, int first, int batch) {
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(stub, ImageRequest(model, TestImages(), first, batch, true), &resp);
  EXPECT_TRUE(s.ok()) << model << ": " << s.error_message();
  return resp.raw_output_contents_size() > 0 ? resp.raw_output_contents(0) : std::string();
}

double Top1Agreement(inference::GRPCInferenceService::Stub& stub, const std::string& model,
                     const core::Tensor& golden) {
  constexpr int kBatch = 50;
  const auto ref = golden.span<float>();
  int agree = 0;
  for (int first = 0; first < 1000; first += kBatch) {
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(stub, ImageRequest(model, TestImages(), first, kBatch, true), &resp);
    if (!s.ok()) {
      ADD_FAILURE() << model << ": " << s.error_message();
      return 0;
    }
    std::vector<float> logits = Logits(resp);
    if (logits.size() != static_cast<size_t>(kBatch) * 10) {
      ADD_FAILURE() << model << ": " << logits.size() << " logits";
      return 0;
    }
    for (int b = 0; b < kBatch; ++b) {
      const float* mine = logits.data() + b * 10;
      const float* theirs = ref.data() + (first + b) * 10;
      agree += (std::max_element(mine, mine + 10) - mine) == (std::max_element(theirs, theirs + 10) - theirs);
    }
  }
  return agree / 1000.0;
}

}  // namespace q8::testing
