#include "tests/integration/oip_helpers.h"

#include <chrono>

#include "core/npy.h"
#include "gtest/gtest.h"
#include "tests/integration/server_process.h"

namespace q8::testing {

grpc::Status UploadModel(Stub& stub, const std::string& name, const std::string& onnx_bytes,
                         const std::string& config_json, const std::string& version) {
  inference::RepositoryModelLoadRequest req;
  req.set_model_name(name);
  (*req.mutable_parameters())["config"].set_string_param(config_json);
  (*req.mutable_parameters())["file:" + version + "/model.onnx"].set_bytes_param(onnx_bytes);
  inference::RepositoryModelLoadResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  return stub.RepositoryModelLoad(&ctx, req, &resp);
}

grpc::Status Unload(Stub& stub, const std::string& name) {
  inference::RepositoryModelUnloadRequest req;
  req.set_model_name(name);
  inference::RepositoryModelUnloadResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return stub.RepositoryModelUnload(&ctx, req, &resp);
}

inference::ModelInferRequest ImageRequest(const std::string& model, const core::Tensor& images, int first,
                                          int batch, bool raw) {
  inference::ModelInferRequest req;
  req.set_model_name(model);
  req.set_id("req-" + std::to_string(first));
  auto* in = req.add_inputs();
  in->set_name("input");
  in->set_datatype("FP32");
  for (int64_t d : {int64_t{batch}, int64_t{1}, int64_t{28}, int64_t{28}}) in->add_shape(d);
  const float* data = images.span<float>().data() + static_cast<size_t>(first) * 28 * 28;
  const size_t n = static_cast<size_t>(batch) * 28 * 28;
  if (raw) {
    req.add_raw_input_contents(std::string(reinterpret_cast<const char*>(data), n * sizeof(float)));
  } else {
    in->mutable_contents()->mutable_fp32_contents()->Add(data, data + n);
  }
  return req;
}

grpc::Status Infer(Stub& stub, const inference::ModelInferRequest& request, inference::ModelInferResponse* response,
                   double deadline_seconds) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(deadline_seconds)));
  return stub.ModelInfer(&ctx, request, response);
}

std::vector<float> Logits(const inference::ModelInferResponse& response) {
  if (response.raw_output_contents_size() > 0) {
    const std::string& raw = response.raw_output_contents(0);
    const float* p = reinterpret_cast<const float*>(raw.data());
    return std::vector<float>(p, p + raw.size() / sizeof(float));
  }
  if (response.outputs_size() == 0) return {};
  const auto& typed = response.outputs(0).contents().fp32_contents();
  return std::vector<float>(typed.begin(), typed.end());
}

namespace {
const core::Tensor& LoadOnce(const std::string& file, core::Tensor* slot, bool* loaded) {
  if (!*loaded) {
    auto t = core::ReadNpyFile(TestDataPath(file));
    if (!t.ok()) {
      ADD_FAILURE() << file << ": " << t.status();
    } else {
      *slot = *std::move(t);
    }
    *loaded = true;
  }
  return *slot;
}
}  // namespace

const core::Tensor& TestImages() {
  static core::Tensor t;
  static bool loaded = false;
  return LoadOnce("fashion_test_images.npy", &t, &loaded);
}
const core::Tensor& TestLabels() {
  static core::Tensor t;
  static bool loaded = false;
  return LoadOnce("fashion_test_labels.npy", &t, &loaded);
}
const core::Tensor& GoldenLogits() {
  static core::Tensor t;
  static bool loaded = false;
  return LoadOnce("fashion_cnn_golden.npy", &t, &loaded);
}

}  // namespace q8::testing
