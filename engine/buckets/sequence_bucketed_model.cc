// Owns the per-request padding and output slicing of sequence buckets.
#include "engine/buckets/sequence_bucketed_model.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace q8::engine {
namespace {

// Elements before the axis, and bytes of one step along it.
std::pair<int64_t, int64_t> OuterAndStride(const core::Dims& dims, int64_t axis, core::DataType dtype) {
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= dims[d];
  int64_t stride = core::SizeOf(dtype);
  for (size_t d = static_cast<size_t>(axis) + 1; d < dims.size(); ++d) stride *= dims[d];
  return {outer, stride};
}

}  // namespace

// A Staging checked out of the pool for one run.
class SequenceBucketedModel::StagingLease {
 public:
  explicit StagingLease(const SequenceBucketedModel* model) : model_(model) {
    absl::MutexLock lock(&model_->mu_);
    if (!model_->idle_.empty()) {
      staging_ = std::move(model_->idle_.back());
      model_->idle_.pop_back();
    }
    if (staging_ == nullptr) staging_ = std::make_unique<Staging>();
    before_ = Bytes();
  }
  ~StagingLease() {
    const int64_t grown = Bytes() - before_;
    absl::MutexLock lock(&model_->mu_);
    model_->staging_bytes_ += grown;
    model_->idle_.push_back(std::move(staging_));
  }
  Staging& operator*() { return *staging_; }

 private:
  int64_t Bytes() const {
    int64_t n = 0;
    for (const auto& b : staging_->inputs) n += static_cast<int64_t>(b.capacity());
    for (const auto& b : staging_->outputs) n += static_cast<int64_t>(b.capacity());
    return n;
  }
  const SequenceBucketedModel* model_;
  std::unique_ptr<Staging> staging_;
  int64_t before_ = 0;
};

SequenceBucketedModel::SequenceBucketedModel(std::shared_ptr<const CompiledModel> base, BucketPlan plan)
    : base_(std::move(base)), plan_(std::move(plan)) {
  for (int64_t axis : plan_.output_axes) slices_outputs_ |= axis >= 0;
}

int64_t SequenceBucketedModel::BucketFor(int64_t length) const {
  auto it = std::lower_bound(plan_.buckets.begin(), plan_.buckets.end(), length);
  return it == plan_.buckets.end() ? length : *it;
}

int64_t SequenceBucketedModel::LengthOf(absl::Span<const core::TensorView> inputs) const {
  const BucketPlan::PaddedInput& first = plan_.padded.front();
  return inputs[first.input].dims[first.axis];
}

absl::Status SequenceBucketedModel::ValidateInputs(absl::Span<const core::TensorView> inputs) const {
  Q8_RETURN_IF_ERROR(base_->ValidateInputs(inputs));
  const int64_t length = LengthOf(inputs);
  const BucketPlan::PaddedInput& first = plan_.padded.front();
  for (const BucketPlan::PaddedInput& p : plan_.padded) {
    if (inputs[p.input].dims[p.axis] != length) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", base_->inputs()[p.input].name, "' has sequence length ", inputs[p.input].dims[p.axis],
                       " (axis ", p.axis, ") but '", base_->inputs()[first.input].name, "' has ", length,
                       ": the sequence inputs must agree (they are padded together to a length bucket)"));
    }
  }
  if (plan_.reject_longer && length > plan_.buckets.back()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sequence length ", length, " of input '", base_->inputs()[first.input].name,
        "' exceeds the largest sequence bucket ", plan_.buckets.back(), " (config.json sequence_buckets.buckets)"));
  }
  return absl::OkStatus();
}

void SequenceBucketedModel::PaddedDims(absl::Span<const core::TensorView> inputs, int64_t bucket,
                                       std::vector<core::TensorView>* out) const {
  out->resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    (*out)[i].dtype = inputs[i].dtype;
    (*out)[i].dims.assign(inputs[i].dims.begin(), inputs[i].dims.end());
    (*out)[i].data = inputs[i].data;
  }
  for (const BucketPlan::PaddedInput& p : plan_.padded) (*out)[p.input].dims[p.axis] = bucket;
}

absl::StatusOr<std::vector<core::Dims>> SequenceBucketedModel::OutputDimsFor(
    absl::Span<const core::TensorView> inputs) const {
  const int64_t length = LengthOf(inputs);
  const int64_t bucket = BucketFor(length);
  if (bucket == length) return base_->OutputDimsFor(inputs);
  // The bucket's plan is cached after warm-up: its dims with the true length.
  std::vector<core::TensorView> padded;
  PaddedDims(inputs, bucket, &padded);
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> dims, base_->OutputDimsFor(padded));
  for (size_t o = 0; o < dims.size() && o < plan_.output_axes.size(); ++o) {
    if (plan_.output_axes[o] >= 0) dims[o][plan_.output_axes[o]] = length;
  }
  return dims;
}

std::vector<core::Dims> SequenceBucketedModel::ExampleInputDims(int64_t batch) const {
  std::vector<core::Dims> dims = base_->ExampleInputDims(batch);
  const BucketPlan::PaddedInput& first = plan_.padded.front();
  const int64_t bucket = BucketFor(std::min(dims[first.input][first.axis], plan_.buckets.back()));
  for (const BucketPlan::PaddedInput& p : plan_.padded) dims[p.input][p.axis] = bucket;
  return dims;
}

std::vector<std::vector<core::Dims>> SequenceBucketedModel::WarmUpInputDims(int64_t batch) const {
  std::vector<std::vector<core::Dims>> sets = {ExampleInputDims(batch)};
  for (int64_t bucket : plan_.buckets) {
    std::vector<core::Dims> dims = sets.front();
    for (const BucketPlan::PaddedInput& p : plan_.padded) dims[p.input][p.axis] = bucket;
    if (dims != sets.front()) sets.push_back(std::move(dims));
  }
  return sets;
}

absl::Status SequenceBucketedModel::Run(absl::Span<const core::TensorView> inputs,
                                        absl::Span<const core::MutableTensorView> outputs) const {
  Q8_RETURN_IF_ERROR(ValidateInputs(inputs));
  const int64_t length = LengthOf(inputs);
  const int64_t bucket = BucketFor(length);
  if (bucket == length) return base_->Run(inputs, outputs);

  StagingLease lease(this);
  Staging& s = *lease;
  PaddedDims(inputs, bucket, &s.input_views);
  s.inputs.resize(plan_.padded.size());
  for (size_t k = 0; k < plan_.padded.size(); ++k) {
    const BucketPlan::PaddedInput& p = plan_.padded[k];
    const core::TensorView& src = inputs[p.input];
    core::TensorView& dst = s.input_views[p.input];
    std::vector<char>& buffer = s.inputs[k];
    buffer.resize(static_cast<size_t>(dst.byte_size()));
    const auto [outer, stride] = OuterAndStride(src.dims, p.axis, src.dtype);
    const size_t keep = static_cast<size_t>(length * stride);
    const size_t row = static_cast<size_t>(bucket * stride);
    const size_t elem = p.pad_bytes.size();
    for (int64_t o = 0; o < outer; ++o) {
      char* out = buffer.data() + static_cast<size_t>(o) * row;
      std::memcpy(out, static_cast<const char*>(src.data) + static_cast<size_t>(o) * keep, keep);
      for (size_t b = keep; b < row; b += elem) std::memcpy(out + b, p.pad_bytes.data(), elem);
    }
    dst.data = buffer.data();
  }
  if (!slices_outputs_) return base_->Run(s.input_views, outputs);

  // Outputs with the sequence axis run into staging at the bucket's length.
  s.outputs.resize(outputs.size());
  s.output_views.resize(outputs.size());
  for (size_t o = 0; o < outputs.size(); ++o) {
    core::MutableTensorView& view = s.output_views[o];
    view.dtype = outputs[o].dtype;
    view.dims.assign(outputs[o].dims.begin(), outputs[o].dims.end());
    view.data = outputs[o].data;
    if (plan_.output_axes[o] < 0) continue;
    view.dims[plan_.output_axes[o]] = bucket;
    s.outputs[o].resize(static_cast<size_t>(view.byte_size()));
    view.data = s.outputs[o].data();
  }
  Q8_RETURN_IF_ERROR(base_->Run(s.input_views, s.output_views));
  for (size_t o = 0; o < outputs.size(); ++o) {
    const int64_t axis = plan_.output_axes[o];
    if (axis < 0) continue;
    const auto [outer, stride] = OuterAndStride(outputs[o].dims, axis, outputs[o].dtype);
    const size_t keep = static_cast<size_t>(length * stride);
    const size_t row = static_cast<size_t>(bucket * stride);
    for (int64_t i = 0; i < outer; ++i) {
      std::memcpy(static_cast<char*>(outputs[o].data) + static_cast<size_t>(i) * keep,
                  s.outputs[o].data() + static_cast<size_t>(i) * row, keep);
    }
  }
  return absl::OkStatus();
}

MemoryStats SequenceBucketedModel::memory() const {
  MemoryStats m = base_->memory();
  absl::MutexLock lock(&mu_);
  m.activations += staging_bytes_;
  return m;
}

}  // namespace q8::engine
