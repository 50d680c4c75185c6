// Calibration data: the npz key convention and the checks against a model
// (see calibration_data.h).
#include "engine/quant/calibration_data.h"

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/quote.h"
#include "core/status_macros.h"

namespace q8::engine {
namespace {

// "calibration inputs have " (the .npy form) or "calibration key 'g/x' has ".
std::string Subject(const SampleGroup& g, const std::string& input, bool npy_form) {
  if (npy_form) return "calibration inputs have ";
  return absl::StrCat("calibration key '", core::Quote(absl::StrCat(g.KeyPrefix(), input)), "' has ");
}

absl::Status CheckInput(const TensorInfo& in, const core::Tensor& x, const std::string& subject) {
  if (x.dtype() != in.dtype) {
    return absl::InvalidArgumentError(absl::StrCat(subject, "dtype ", core::OipName(x.dtype()), "; expected ",
                                                   core::OipName(in.dtype), " like the model input '", in.name, "'"));
  }
  bool shape_ok = x.dims().size() == in.dims.size() && !x.dims().empty() && x.dims()[0] >= 1;
  // Dynamic axes (beyond the sample axis) take the group's size: one shape per group.
  for (size_t i = 1; shape_ok && i < in.dims.size(); ++i) {
    shape_ok = in.dims[i] == core::kDynamicDim ? x.dims()[i] >= 1 : x.dims()[i] == in.dims[i];
  }
  if (!shape_ok) {
    return absl::InvalidArgumentError(absl::StrCat(subject, "shape ", core::DimsToString(x.dims()),
                                                   "; the model input '", in.name, "' is ", core::DimsToString(in.dims),
                                                   " (N samples along dim 0)"));
  }
  // Only float samples can hold NaN or Inf (ids and masks are fed as they are).
  auto values = x.dtype() == core::DataType::kFloat32 ? x.span<float>() : absl::Span<const float>();
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(subject, "NaN or Inf (first at flat index ", i, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLabels(const CompiledModel& fp32, const SampleGroup& g, const core::Tensor& y) {
  const std::string key =
      absl::StrCat("calibration labels", g.name.empty() ? "" : absl::StrCat(" of group '", core::Quote(g.name), "'"));
  if (y.dtype() != core::DataType::kInt64 || y.dims().size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(key, " must be a 1-D int64 array of class ids, got ",
                                                   core::OipName(y.dtype()), " ", core::DimsToString(y.dims())));
  }
  if (y.dims()[0] != g.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": labels count ", y.dims()[0], " does not match the ", g.rows, " input samples"));
  }
  const int64_t classes = fp32.outputs()[0].dims.empty() ? 0 : fp32.outputs()[0].dims.back();
  for (int64_t i = 0; i < y.dims()[0]; ++i) {
    const int64_t label = y.span<int64_t>()[i];
    if (label < 0 || (classes > 0 && label >= classes)) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, ": label ", label, " at row ", i, " is outside [0, ", classes, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SampleGroup> ResolveGroup(const CompiledModel& fp32, const CalibrationGroup& group, bool npy_form) {
  const std::vector<TensorInfo>& model_inputs = fp32.inputs();
  SampleGroup g;
  g.name = group.name;
  g.inputs.assign(model_inputs.size(), nullptr);
  for (const auto& [name, tensor] : group.inputs) {
    size_t index = model_inputs.size();
    if (name.empty() && model_inputs.size() == 1) index = 0;
    for (size_t i = 0; i < model_inputs.size() && !name.empty(); ++i) {
      if (model_inputs[i].name == name) index = i;
    }
    const std::string key = absl::StrCat(g.KeyPrefix(), name);
    if (index == model_inputs.size()) {
      if (name.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "calibration/inputs.npy holds one input; this model has ", model_inputs.size(),
            " inputs: send calibration/inputs.npz with one array per input name (or use mode \"dynamic\")"));
      }
      std::string names;
      for (const TensorInfo& in : model_inputs) absl::StrAppend(&names, names.empty() ? "" : ", ", "'", in.name, "'");
      return absl::InvalidArgumentError(
          absl::StrCat("calibration key '", core::Quote(key), "' names no input of the model (inputs: ", names, ")"));
    }
    if (g.inputs[index] != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("calibration key '", core::Quote(key), "' gives input '", model_inputs[index].name, "' twice"));
    }
    Q8_RETURN_IF_ERROR(CheckInput(model_inputs[index], tensor, Subject(g, name, npy_form)));
    g.inputs[index] = &tensor;
  }
  for (size_t i = 0; i < model_inputs.size(); ++i) {
    if (g.inputs[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("calibration data has no key '", core::Quote(g.KeyPrefix()),
                                                     model_inputs[i].name, "' for the model input '",
                                                     model_inputs[i].name, "'"));
    }
  }
  g.rows = g.inputs[0]->dims()[0];
  for (size_t i = 1; i < model_inputs.size(); ++i) {
    if (g.inputs[i]->dims()[0] != g.rows) {
      return absl::InvalidArgumentError(absl::StrCat(
          "calibration key '", core::Quote(g.KeyPrefix()), model_inputs[i].name, "' has ", g.inputs[i]->dims()[0],
          " samples but '", g.KeyPrefix(), model_inputs[0].name, "' has ", g.rows, " (one leading count per group)"));
    }
  }
  if (group.labels) {
    Q8_RETURN_IF_ERROR(CheckLabels(fp32, g, *group.labels));
    g.labels = &*group.labels;
  }
  return g;
}

}  // namespace

int64_t CalibrationSamples(const CalibrationData& data) {
  int64_t n = data.inputs.has_storage() && !data.inputs.dims().empty() ? data.inputs.dims()[0] : 0;
  for (const CalibrationGroup& g : data.groups) {
    if (!g.inputs.empty() && !g.inputs[0].second.dims().empty()) n += g.inputs[0].second.dims()[0];
  }
  return n;
}

absl::StatusOr<CalibrationData> CalibrationFromNpz(std::vector<core::NamedTensor> arrays) {
  CalibrationData data;
  auto group_of = [&](const std::string& name) -> CalibrationGroup& {
    for (CalibrationGroup& g : data.groups) {
      if (g.name == name) return g;
    }
    data.groups.push_back(CalibrationGroup{name, {}, std::nullopt});
    return data.groups.back();
  };
  for (core::NamedTensor& a : arrays) {
    const size_t slash = a.name.find('/');
    const std::string group = slash == std::string::npos ? "" : a.name.substr(0, slash);
    const std::string input = slash == std::string::npos ? a.name : a.name.substr(slash + 1);
    if (input.empty() || (slash != std::string::npos && group.empty())) {
      return absl::InvalidArgumentError(
          absl::StrCat("calibration key '", core::Quote(a.name), "' is not <input> or <group>/<input>"));
    }
    CalibrationGroup& g = group_of(group);
    if (input == kLabelsKey) {
      g.labels = std::move(a.tensor);
    } else {
      g.inputs.emplace_back(input, std::move(a.tensor));
    }
  }
  for (const CalibrationGroup& g : data.groups) {
    if (g.inputs.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("calibration group '", core::Quote(g.name), "' has labels but no inputs"));
    }
  }
  return data;
}

absl::StatusOr<std::vector<SampleGroup>> ResolveCalibration(const CompiledModel& fp32, const CalibrationData& data) {
  const bool npy_form = data.groups.empty();
  if (!npy_form && (data.inputs.has_storage() || data.labels)) {
    return absl::InvalidArgumentError("calibration data gives both the .npy form and sample groups");
  }
  std::vector<SampleGroup> out;
  if (npy_form) {
    CalibrationGroup single;
    // Views only: ResolveGroup keeps pointers, so resolve the caller's tensors, not a copy.
    const TensorInfo* only = fp32.inputs().size() == 1 ? &fp32.inputs()[0] : nullptr;
    if (only == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("calibration/inputs.npy holds one input; this model has ", fp32.inputs().size(),
                       " inputs: send calibration/inputs.npz with one array per input name (or use mode \"dynamic\")"));
    }
    SampleGroup g;
    g.inputs = {&data.inputs};
    Q8_RETURN_IF_ERROR(CheckInput(*only, data.inputs, Subject(g, "", true)));
    g.rows = data.inputs.dims()[0];
    if (data.labels) {
      Q8_RETURN_IF_ERROR(CheckLabels(fp32, g, *data.labels));
      g.labels = &*data.labels;
    }
    out.push_back(std::move(g));
    return out;
  }
  std::set<std::string> names;
  for (const CalibrationGroup& group : data.groups) {
    if (!names.insert(group.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("calibration group '", core::Quote(group.name), "' given twice"));
    }
    Q8_ASSIGN_OR_RETURN(SampleGroup g, ResolveGroup(fp32, group, false));
    out.push_back(std::move(g));
  }
  const bool labels = out[0].labels != nullptr;
  for (const SampleGroup& g : out) {
    if ((g.labels != nullptr) != labels) {
      return absl::InvalidArgumentError(absl::StrCat("calibration group '", core::Quote(g.name),
                                                     labels ? "' has no labels" : "' has labels",
                                                     "; give labels for every group or for none"));
    }
  }
  return out;
}

SampleGroup SingleInputGroup(const core::Tensor& samples) {
  SampleGroup g;
  g.inputs = {&samples};
  g.rows = samples.dims().empty() ? 0 : samples.dims()[0];
  return g;
}

}  // namespace q8::engine
