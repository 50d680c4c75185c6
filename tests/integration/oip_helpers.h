// OIP client helpers for the integration tests: upload, infer (raw/typed),
// golden data. All talk to a real server through the generated stub.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "grpcpp/grpcpp.h"
#include "inference.grpc.pb.h"

namespace q8::testing {

using Stub = inference::GRPCInferenceService::Stub;

// Config that serves the float model as uploaded (no calibration data needed).
inline constexpr char kFp32Config[] = R"({"quantization":{"mode":"none"}})";

grpc::Status UploadModel(Stub& stub, const std::string& name, const std::string& onnx_bytes,
                         const std::string& config_json = kFp32Config, const std::string& version = "1");
grpc::Status Unload(Stub& stub, const std::string& name);

// Request for a [batch,1,28,28] slice of `images` starting at `first`.
inference::ModelInferRequest ImageRequest(const std::string& model, const core::Tensor& images, int first,
                                          int batch, bool raw);
grpc::Status Infer(Stub& stub, const inference::ModelInferRequest& request, inference::ModelInferResponse* response,
                   double deadline_seconds = 60);
// Logits from a response ([batch,10] FP32, raw or typed).
std::vector<float> Logits(const inference::ModelInferResponse& response);

// Fixtures from tests/data (loaded once).
const core::Tensor& TestImages();   // [1000,1,28,28] FP32
const core::Tensor& TestLabels();   // [1000] INT64
const core::Tensor& GoldenLogits();  // [1000,10] FP32 (PyTorch)

}  // namespace q8::testing
