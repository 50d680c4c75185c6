// Conformance case execution and output comparison; see conformance_runner.h.
#include "tests/conformance/conformance_runner.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/element_convert.h"
#include "core/status_macros.h"
#include "engine/compiler.h"
#include "engine/ops/op_table.h"
#include "onnx/onnx_pb.h"

namespace q8::testing {
namespace {

bool IsFloat(core::DataType t) {
  return t == core::DataType::kFloat16 || t == core::DataType::kFloat32 || t == core::DataType::kFloat64 ||
         t == core::DataType::kBFloat16;
}

absl::StatusOr<std::vector<double>> AsDoubles(const core::Tensor& t) {
  std::vector<double> values(static_cast<size_t>(t.num_elements()));
  Q8_RETURN_IF_ERROR(core::ConvertElements(t.view(), {core::DataType::kFloat64, t.dims(), values.data()}));
  return values;
}

}  // namespace

absl::Status CompareTensor(const core::Tensor& expected, const core::Tensor& actual, const Tolerance& tol) {
  if (expected.dtype() != actual.dtype()) {
    return absl::InvalidArgumentError(
        absl::StrCat("element type ", core::OipName(actual.dtype()), ", expected ", core::OipName(expected.dtype())));
  }
  if (expected.dims() != actual.dims()) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape ", core::DimsToString(actual.dims()), ", expected ", core::DimsToString(expected.dims())));
  }
  if (!IsFloat(expected.dtype())) {
    if (expected.byte_size() > 0 && std::memcmp(expected.data(), actual.data(), expected.byte_size()) != 0) {
      Q8_ASSIGN_OR_RETURN(auto e, AsDoubles(expected));
      Q8_ASSIGN_OR_RETURN(auto a, AsDoubles(actual));
      size_t i = 0;
      while (i < e.size() && e[i] == a[i]) ++i;
      return absl::InvalidArgumentError(absl::StrCat("value ", i, " is ", a[i], ", expected ", e[i]));
    }
    return absl::OkStatus();
  }
  Q8_ASSIGN_OR_RETURN(auto e, AsDoubles(expected));
  Q8_ASSIGN_OR_RETURN(auto a, AsDoubles(actual));
  int64_t bad = 0, worst = -1;
  double worst_excess = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    if (std::isnan(e[i]) || std::isnan(a[i])) {
      if (std::isnan(e[i]) != std::isnan(a[i])) {
        ++bad;
        if (worst < 0) worst = static_cast<int64_t>(i);
      }
      continue;
    }
    if (std::isinf(e[i]) || std::isinf(a[i])) {
      if (e[i] != a[i]) {
        ++bad;
        if (worst < 0) worst = static_cast<int64_t>(i);
      }
      continue;
    }
    const double excess = std::abs(a[i] - e[i]) - (tol.atol + tol.rtol * std::abs(e[i]));
    if (excess > 0) {
      ++bad;
      if (worst < 0 || excess > worst_excess) {
        worst = static_cast<int64_t>(i);
        worst_excess = excess;
      }
    }
  }
  if (bad == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(bad, " of ", e.size(), " values differ beyond rtol ", tol.rtol,
                                                 " atol ", tol.atol, "; worst at ", worst, ": ", a[worst],
                                                 ", expected ", e[worst]));
}

absl::Status RunConformanceCase(const ConformanceCase& c, const Tolerance& tol) {
  engine::CompileOptions options;
  options.warmup_batch_sizes = {};
  // Conformance inputs have fixed shapes; the largest first dimension must be a valid batch.
  for (const auto& set : c.data_sets) {
    for (const auto& in : set.inputs) {
      if (!in->dims().empty()) options.max_batch_size = std::max(options.max_batch_size, in->dims()[0]);
    }
  }
  Q8_ASSIGN_OR_RETURN(auto model, engine::Compile(c.model, options));
  for (const ConformanceDataSet& set : c.data_sets) {
    std::vector<core::TensorView> inputs;
    for (const auto& in : set.inputs) inputs.push_back(in->view());
    auto outputs = model->Run(inputs);
    if (!outputs.ok()) {
      return absl::Status(outputs.status().code(), absl::StrCat(set.name, ": ", outputs.status().message()));
    }
    if (outputs->size() != set.outputs.size()) {
      return absl::InternalError(
          absl::StrCat(set.name, ": ", outputs->size(), " outputs, expected ", set.outputs.size()));
    }
    for (size_t k = 0; k < outputs->size(); ++k) {
      absl::Status s = CompareTensor(*set.outputs[k], (*outputs)[k], tol);
      if (!s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("wrong result: ", set.name, " output ", k, " ('", c.output_names[k], "'): ", s.message()));
      }
    }
  }
  return absl::OkStatus();
}

bool UsesOnlyTableOps(const std::string& model_bytes) {
  onnx::ModelProto model;
  if (!model.ParseFromString(model_bytes)) return false;
  for (const onnx::NodeProto& n : model.graph().node()) {
    if (!n.domain().empty() && n.domain() != "ai.onnx") return false;
    if (n.op_type() != "Constant" && engine::FindOp(n.op_type()) == nullptr) return false;
  }
  return true;
}

}  // namespace q8::testing
