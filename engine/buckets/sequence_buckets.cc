// Owns the decision whether and how a model serves from sequence buckets:
// detection of the ids+mask form, bucket and output-axis checks, and the
// load-time proof on the fp32 reference that padding leaves outputs unchanged.
#include "engine/buckets/sequence_buckets.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/element_convert.h"
#include "core/status_macros.h"
#include "engine/buckets/sequence_bucketed_model.h"

namespace q8::engine {
namespace {

using Mode = SequenceBucketOptions::Mode;

// Padding may only change the outputs by reordered float sums: the masked
// positions contribute exact zeros (exp(-1e4) underflows), so the remaining
// difference is rounding, far below this.
constexpr double kPaddingAbsTolerance = 1e-4;
constexpr double kPaddingRelTolerance = 1e-3;

bool IsIndexType(core::DataType t) {
  switch (t) {
    case core::DataType::kBool:
    case core::DataType::kUInt8:
    case core::DataType::kUInt16:
    case core::DataType::kUInt32:
    case core::DataType::kUInt64:
    case core::DataType::kInt8:
    case core::DataType::kInt16:
    case core::DataType::kInt32:
    case core::DataType::kInt64:
      return true;
    default:
      return false;
  }
}

// [batch, sequence] with both axes dynamic, integer or bool.
bool IsTokenInput(const TensorInfo& in) {
  return IsIndexType(in.dtype) && in.dims.size() == 2 && in.dims[0] == core::kDynamicDim &&
         in.dims[1] == core::kDynamicDim;
}

int FindInput(const CompiledModel& model, const std::string& name) {
  for (size_t i = 0; i < model.inputs().size(); ++i) {
    if (model.inputs()[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

// One element of `value` in `dtype`.
absl::StatusOr<std::vector<char>> PadBytes(int64_t value, core::DataType dtype) {
  core::Tensor src(core::DataType::kInt64, {1});
  *static_cast<int64_t*>(src.data()) = value;
  std::vector<char> bytes(static_cast<size_t>(core::SizeOf(dtype)));
  Q8_RETURN_IF_ERROR(core::ConvertElements(src.view(), core::MutableTensorView{dtype, {1}, bytes.data()}));
  return bytes;
}

// Zero tensors of the model's example shapes at batch 1 with the padded
// inputs at `length`; padded inputs other than the mask hold `token`, the
// mask holds 1 (a real token at every position).
absl::StatusOr<std::vector<core::Tensor>> ExampleInputs(const CompiledModel& model, const BucketPlan& plan,
                                                        int mask_input, int64_t length, int64_t token) {
  std::vector<core::Dims> dims = model.ExampleInputDims(1);
  for (const BucketPlan::PaddedInput& p : plan.padded) dims[p.input][p.axis] = length;
  std::vector<core::Tensor> tensors;
  for (size_t i = 0; i < dims.size(); ++i) tensors.emplace_back(model.inputs()[i].dtype, dims[i]);
  for (const BucketPlan::PaddedInput& p : plan.padded) {
    core::Tensor& t = tensors[p.input];
    core::Tensor values(core::DataType::kInt64, t.dims());
    std::fill_n(static_cast<int64_t*>(values.data()), values.num_elements(), p.input == mask_input ? 1 : token);
    Q8_RETURN_IF_ERROR(core::ConvertElements(values.view(), t.mutable_view()));
  }
  return tensors;
}

std::vector<core::TensorView> Views(const std::vector<core::Tensor>& tensors) {
  std::vector<core::TensorView> views;
  for (const core::Tensor& t : tensors) views.push_back(t.view());
  return views;
}

// Largest |a - b| over an output beyond the tolerance, as a message; empty when within.
absl::StatusOr<std::string> Difference(const std::string& name, const core::Tensor& a, const core::Tensor& b) {
  if (a.dims() != b.dims()) {
    return absl::StrCat("output '", name, "' has shape ", core::DimsToString(b.dims()), " padded, ",
                        core::DimsToString(a.dims()), " unpadded");
  }
  core::Tensor x(core::DataType::kFloat64, a.dims()), y(core::DataType::kFloat64, b.dims());
  Q8_RETURN_IF_ERROR(core::ConvertElements(a.view(), x.mutable_view()));
  Q8_RETURN_IF_ERROR(core::ConvertElements(b.view(), y.mutable_view()));
  const double* p = static_cast<const double*>(x.data());
  const double* q = static_cast<const double*>(y.data());
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    const double limit = kPaddingAbsTolerance + kPaddingRelTolerance * std::abs(p[i]);
    if (!(std::abs(p[i] - q[i]) <= limit)) {
      return absl::StrCat("output '", name, "' element ", i, " is ", q[i], " padded but ", p[i], " unpadded");
    }
  }
  return std::string();
}

class Resolver {
 public:
  Resolver(const CompiledModel& model, const SequenceBucketOptions& options) : model_(model), options_(options) {}

  // Fills plan_.padded and mask_; a returned message means "does not apply".
  absl::StatusOr<std::string> Inputs() {
    mask_ = -1;
    if (!options_.mask_input.empty()) {
      mask_ = FindInput(model_, options_.mask_input);
      if (mask_ < 0)
        return Invalid(absl::StrCat("mask_input '", options_.mask_input, "' is not an input of the model"));
    } else {
      for (size_t i = 0; i < model_.inputs().size(); ++i) {
        const TensorInfo& in = model_.inputs()[i];
        if (!IsTokenInput(in) || !absl::StrContains(absl::AsciiStrToLower(in.name), "mask")) continue;
        if (mask_ >= 0) return std::string("two inputs look like an attention mask; name one in mask_input");
        mask_ = static_cast<int>(i);
      }
      if (mask_ < 0) return std::string("no integer [batch, sequence] input named like an attention mask");
    }
    if (!options_.input_axes.empty()) {
      for (const auto& [name, axis] : options_.input_axes) {
        const int i = FindInput(model_, name);
        if (i < 0) return Invalid(absl::StrCat("input_axes names '", name, "', which is not an input of the model"));
        const core::Dims& dims = model_.inputs()[i].dims;
        if (axis < 1 || axis >= static_cast<int64_t>(dims.size()) || dims[axis] != core::kDynamicDim) {
          return Invalid(absl::StrCat("input_axes: axis ", axis, " of '", name, "' (shape ", core::DimsToString(dims),
                                      ") is not a dynamic axis after the batch"));
        }
        for (const BucketPlan::PaddedInput& p : plan_.padded) {
          if (p.input == i) return Invalid(absl::StrCat("input_axes names '", name, "' twice"));
        }
        plan_.padded.push_back({i, axis, {}});
      }
    } else {
      for (size_t i = 0; i < model_.inputs().size(); ++i) {
        if (static_cast<int>(i) == mask_ || IsTokenInput(model_.inputs()[i])) {
          plan_.padded.push_back({static_cast<int>(i), 1, {}});
        }
      }
    }
    bool has_mask = false;
    for (BucketPlan::PaddedInput& p : plan_.padded) {
      const TensorInfo& in = model_.inputs()[p.input];
      has_mask |= p.input == mask_;
      Q8_ASSIGN_OR_RETURN(p.pad_bytes, PadBytes(p.input == mask_ ? 0 : options_.pad_value, in.dtype));
    }
    if (!has_mask) {
      return Invalid(absl::StrCat("the mask input '", model_.inputs()[mask_].name, "' must be among input_axes"));
    }
    // The mask decides the request's length (it is never optional).
    std::stable_partition(plan_.padded.begin(), plan_.padded.end(),
                          [this](const BucketPlan::PaddedInput& p) { return p.input == mask_; });
    if (options_.mode == Mode::kAuto) {
      for (size_t i = 0; i < model_.inputs().size(); ++i) {
        const core::Dims& dims = model_.inputs()[i].dims;
        const bool padded =
            std::any_of(plan_.padded.begin(), plan_.padded.end(),
                        [i](const BucketPlan::PaddedInput& p) { return p.input == static_cast<int>(i); });
        if (!padded && std::find(dims.begin() + (dims.empty() ? 0 : 1), dims.end(), core::kDynamicDim) != dims.end()) {
          return absl::StrCat("input '", model_.inputs()[i].name, "' has a dynamic axis that is not padded");
        }
      }
    }
    return std::string();
  }

  // Keeps the buckets whose shapes the model takes and finds each output's
  // sequence axis from the output dims at two lengths.
  absl::StatusOr<std::string> Buckets() {
    std::vector<int64_t> wanted = options_.buckets;
    if (wanted.empty()) wanted.assign(std::begin(kDefaultSequenceBuckets), std::end(kDefaultSequenceBuckets));
    if (static_cast<int64_t>(wanted.size()) > kMaxSequenceBuckets) {
      return Invalid(absl::StrCat(wanted.size(), " buckets; at most ", kMaxSequenceBuckets));
    }
    for (size_t i = 0; i < wanted.size(); ++i) {
      if (wanted[i] < 1 || wanted[i] > kMaxSequenceBucket || (i > 0 && wanted[i] <= wanted[i - 1])) {
        return Invalid(absl::StrCat("buckets must be ascending integers in [1, ", kMaxSequenceBucket, "], got ",
                                    wanted[i], " at position ", i));
      }
    }
    std::map<int64_t, std::vector<core::Dims>> dims_at;
    for (int64_t bucket : wanted) {
      absl::StatusOr<std::vector<core::Dims>> dims = OutputDimsAt(bucket);
      if (!dims.ok()) {
        // A listed bucket must fit; the default list is cut to what the model takes.
        if (options_.mode == Mode::kOn && !options_.buckets.empty()) {
          return Invalid(
              absl::StrCat("bucket ", bucket, ": the model cannot take that length: ", dims.status().message()));
        }
        continue;  // auto: beyond what the model takes (e.g. its position table)
      }
      plan_.buckets.push_back(bucket);
      dims_at[bucket] = *std::move(dims);
    }
    if (plan_.buckets.empty()) return std::string("the model takes none of the bucket lengths");
    if (dims_at.size() == 1 && plan_.buckets[0] > 1) {
      Q8_ASSIGN_OR_RETURN(dims_at[plan_.buckets[0] - 1], OutputDimsAt(plan_.buckets[0] - 1));
    }
    for (size_t o = 0; o < model_.outputs().size(); ++o) {
      int64_t seq_axis = -1;
      const core::Dims& first = dims_at.begin()->second[o];
      for (size_t d = 0; d < first.size(); ++d) {
        bool equals_length = true, constant = true;
        for (const auto& [length, dims] : dims_at) {
          equals_length &= dims[o].size() == first.size() && dims[o][d] == length;
          constant &= dims[o].size() == first.size() && dims[o][d] == first[d];
        }
        if (constant) continue;
        if (!equals_length || seq_axis >= 0) {
          return Refuse(absl::StrCat("output '", model_.outputs()[o].name, "' axis ", d,
                                     " changes with the sequence length other than as the length itself, so a "
                                     "padded result cannot be sliced back"));
        }
        seq_axis = static_cast<int64_t>(d);
      }
      plan_.output_axes.push_back(seq_axis);
    }
    return std::string();
  }

  // Runs `reference` at a length between buckets, plain and padded.
  absl::StatusOr<std::string> PaddingIsInvisible(const CompiledModel& reference) {
    auto it = std::find_if(plan_.buckets.begin(), plan_.buckets.end(), [](int64_t b) { return b >= 2; });
    if (it == plan_.buckets.end()) return std::string();  // no length ever pads
    const int64_t length = std::max<int64_t>(1, *it / 2);
    const int64_t token = options_.pad_value == 1 ? 2 : 1;
    SequenceBucketedModel padded(std::shared_ptr<const CompiledModel>(&reference, [](const CompiledModel*) {}), plan_);
    Q8_ASSIGN_OR_RETURN(std::vector<core::Tensor> inputs, ExampleInputs(reference, plan_, mask_, length, token));
    const std::vector<core::TensorView> views = Views(inputs);
    Q8_ASSIGN_OR_RETURN(std::vector<core::Tensor> plain, reference.Run(views));
    Q8_ASSIGN_OR_RETURN(std::vector<core::Tensor> bucketed, padded.Run(views));
    for (size_t o = 0; o < plain.size(); ++o) {
      Q8_ASSIGN_OR_RETURN(std::string diff, Difference(reference.outputs()[o].name, plain[o], bucketed[o]));
      if (!diff.empty()) {
        return absl::StrCat("padding length ", length, " to ", *it, " changes the outputs (", diff,
                            "): the model does not mask padded positions through '", reference.inputs()[mask_].name,
                            "'");
      }
    }
    return std::string();
  }

  BucketPlan TakePlan() {
    plan_.reject_longer = options_.mode == Mode::kOn;
    return std::move(plan_);
  }

 private:
  absl::Status Invalid(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat("sequence_buckets: ", what));
  }
  // A model that cannot be bucketed: a reason under auto, an error when asked for.
  absl::StatusOr<std::string> Refuse(const std::string& why) const {
    if (options_.mode == Mode::kOn) return Invalid(why);
    return why;
  }
  absl::StatusOr<std::vector<core::Dims>> OutputDimsAt(int64_t length) const {
    Q8_ASSIGN_OR_RETURN(std::vector<core::Tensor> inputs, ExampleInputs(model_, plan_, mask_, length, 0));
    return model_.OutputDimsFor(Views(inputs));
  }

  const CompiledModel& model_;
  const SequenceBucketOptions& options_;
  BucketPlan plan_;
  int mask_ = -1;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const CompiledModel>> ApplySequenceBuckets(std::shared_ptr<const CompiledModel> model,
                                                                          const CompiledModel* reference,
                                                                          const SequenceBucketOptions& options,
                                                                          std::string* why) {
  std::string reason;
  auto result = [&](std::string r) -> absl::StatusOr<std::shared_ptr<const CompiledModel>> {
    if (options.mode == Mode::kOn && !r.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("sequence_buckets: ", r));
    }
    if (why != nullptr) *why = r.empty() ? r : absl::StrCat("one plan per sequence length, no buckets: ", r);
    return model;
  };
  // Models without token inputs are not candidates: nothing to say.
  const bool candidate = std::any_of(model->inputs().begin(), model->inputs().end(), IsTokenInput);
  if (options.mode == Mode::kOff || (options.mode == Mode::kAuto && !candidate)) return result("");
  if (!model->can_warm_up()) return result("the model's shapes depend on input values");
  Resolver resolver(*model, options);
  Q8_ASSIGN_OR_RETURN(reason, resolver.Inputs());
  if (!reason.empty()) return result(reason);
  Q8_ASSIGN_OR_RETURN(reason, resolver.Buckets());
  if (!reason.empty()) return result(reason);
  Q8_ASSIGN_OR_RETURN(reason, resolver.PaddingIsInvisible(reference != nullptr ? *reference : *model));
  if (!reason.empty()) return result(reason);
  auto bucketed = std::make_shared<SequenceBucketedModel>(std::move(model), resolver.TakePlan());
  if (why != nullptr) {
    *why = absl::StrCat("sequence buckets ", absl::StrJoin(bucketed->plan().buckets, ","), " (mask '",
                        bucketed->inputs()[bucketed->plan().padded.front().input].name, "')");
  }
  return std::shared_ptr<const CompiledModel>(std::move(bucketed));
}

}  // namespace q8::engine
