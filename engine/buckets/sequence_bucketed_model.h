// SequenceBucketedModel: the request path of sequence-length buckets (see
// sequence_buckets.h). Wraps a CompiledModel; a request whose length is not
// a bucket is padded into staging buffers from a pool (reused, so a steady
// stream allocates nothing), runs on the bucket's plan, and outputs that
// carry the sequence axis are sliced back. Everything else forwards to the
// wrapped model. Thread-safe like any CompiledModel.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/compiled_model.h"

namespace q8::engine {

struct BucketPlan {
  struct PaddedInput {
    int input = 0;                // index in inputs()
    int64_t axis = 1;             // its sequence axis
    std::vector<char> pad_bytes;  // one element of its pad value, in its dtype
  };
  std::vector<PaddedInput> padded;   // the first one sets the request's length
  std::vector<int64_t> output_axes;  // per output: its sequence axis, -1 when it has none
  std::vector<int64_t> buckets;      // ascending
  bool reject_longer = true;         // false: longer requests run at their own length
};

class SequenceBucketedModel final : public CompiledModel {
 public:
  SequenceBucketedModel(std::shared_ptr<const CompiledModel> base, BucketPlan plan);

  const BucketPlan& plan() const { return plan_; }
  // The bucket a request of `length` runs at: `length` itself when beyond
  // the largest and longer requests run unpadded.
  int64_t BucketFor(int64_t length) const;

  const std::vector<TensorInfo>& inputs() const override { return base_->inputs(); }
  const std::vector<TensorInfo>& outputs() const override { return base_->outputs(); }
  int64_t max_batch_size() const override { return base_->max_batch_size(); }
  const CompileReport& report() const override { return base_->report(); }
  // The wrapped model's checks, then: every padded input has the same length
  // along its axis, and (reject_longer) it is at most the largest bucket.
  absl::Status ValidateInputs(absl::Span<const core::TensorView> inputs) const override;
  std::vector<core::Dims> OutputDims(int64_t batch) const override { return base_->OutputDims(batch); }
  absl::StatusOr<std::vector<core::Dims>> OutputDimsFor(absl::Span<const core::TensorView> inputs) const override;
  // The wrapped model's, with the sequence axes at a bucket (at most the
  // largest: a longer example would be refused when reject_longer).
  std::vector<core::Dims> ExampleInputDims(int64_t batch) const override;
  // The example shapes, then one per bucket: every bucket's plan is built
  // before the model is ready, so no request pays a plan build.
  std::vector<std::vector<core::Dims>> WarmUpInputDims(int64_t batch) const override;
  bool can_warm_up() const override { return base_->can_warm_up(); }
  using CompiledModel::Run;  // the allocating form
  absl::Status Run(absl::Span<const core::TensorView> inputs,
                   absl::Span<const core::MutableTensorView> outputs) const override;
  MemoryStats memory() const override;
  int64_t plan_builds() const override { return base_->plan_builds(); }
  int64_t cached_plans() const override { return base_->cached_plans(); }
  absl::StatusOr<std::vector<PrimitiveInfo>> Primitives(int64_t batch) const override {
    return base_->Primitives(batch);
  }

 private:
  // Padded copies of one request's inputs and outputs.
  struct Staging {
    std::vector<std::vector<char>> inputs, outputs;
    std::vector<core::TensorView> input_views;
    std::vector<core::MutableTensorView> output_views;
  };
  class StagingLease;
  int64_t LengthOf(absl::Span<const core::TensorView> inputs) const;
  // `inputs` with the padded inputs' dims at `bucket` (data pointers unchanged).
  void PaddedDims(absl::Span<const core::TensorView> inputs, int64_t bucket, std::vector<core::TensorView>* out) const;

  const std::shared_ptr<const CompiledModel> base_;
  const BucketPlan plan_;
  bool slices_outputs_ = false;
  mutable absl::Mutex mu_;
  mutable std::vector<std::unique_ptr<Staging>> idle_ ABSL_GUARDED_BY(mu_);
  mutable int64_t staging_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace q8::engine
