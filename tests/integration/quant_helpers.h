// Quantize-on-upload helpers for the integration tests: calibration .npy
// bytes cut from the committed test images, the streaming ModelService
// Upload (collecting every event), GetReport, Export, and top-1 agreement of
// a served model with golden logits.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "grpcpp/grpcpp.h"
#include "inference.grpc.pb.h"
#include "q8serve/v1/model_service.grpc.pb.h"

namespace q8::testing {

using ModelStub = q8serve::v1::ModelService::Stub;

// The first `rows` test images as float32 [rows,1,28,28] .npy, and labels int64 [rows].
std::string CalibrationInputsNpy(int rows = 300);
std::string CalibrationLabelsNpy(int rows = 300);
// Any tensor as .npy bytes.
std::string NpyBytes(const core::Tensor& tensor);

struct UploadFile {
  std::string path;  // "model.onnx", "calibration/inputs.npy", "calibration/labels.npy"
  std::string bytes;
};

struct StreamedUpload {
  grpc::Status status;
  std::vector<q8serve::v1::UploadEvent> events;
  std::optional<q8serve::v1::UploadResult> result;
};

// Header (config unset when nullopt), then every file in chunks of `chunk` bytes.
StreamedUpload StreamUpload(ModelStub& stub, const std::string& name, int64_t version,
                            const std::optional<std::string>& config, const std::vector<UploadFile>& files,
                            size_t chunk = size_t{1} << 20);

// version 0: the latest. `serving_state` (optional): what serves now and why.
grpc::Status GetReport(ModelStub& stub, const std::string& name, int64_t version, std::string* report_json,
                       std::string* serving_state = nullptr);
grpc::Status ExportModel(ModelStub& stub, const std::string& name, int64_t version, std::string* onnx_bytes);

// Fraction of the 1000 test images whose top-1 class from `model` equals the
// golden logits' top-1 (golden: [1000,10]).
double Top1Agreement(inference::GRPCInferenceService::Stub& stub, const std::string& model, const core::Tensor& golden);
// Raw output bytes of `model` for images [first, first+batch).
std::string RawLogits(inference::GRPCInferenceService::Stub& stub, const std::string& model, int first, int batch);

}  // namespace q8::testing
