// OnnxModel: the CompiledModel the compiler returns. Owns the optimized
// graph, its lowering and the plan cache; answers metadata and validation
// from data computed once at compile time.
#pragma once

#include <memory>

#include "engine/compiled_model.h"
#include "engine/graph/graph.h"
#include "engine/plan/plan_cache.h"
#include "engine/quant/quant_spec.h"

namespace q8::engine {

class OnnxModel : public CompiledModel {
 public:
  struct Parts {
    std::shared_ptr<const Graph> graph;
    std::shared_ptr<const QuantSpec> quant;  // null for fp32
    int64_t opset = 13;
    std::vector<TensorInfo> inputs, outputs;
    // The type the program holds each input in (converted from inputs[i].dtype
    // at the edge when they differ). Outputs are computed in FP32.
    std::vector<core::DataType> input_runtime_dtypes;
    bool batchable = true;  // every input has a dynamic first dim
    // Plans are built by specializing the graph (engine/plan/specialize.h).
    bool specialize = false;
    std::vector<bool> shape_value_inputs;  // per input
    int64_t max_batch_size = 64;
    size_t max_cached_plans = 0;  // 0: unbounded
    CompileReport report;
  };
  // `lowered` must point into parts.graph (and parts.quant).
  OnnxModel(Parts parts, LoweredGraph lowered);

  const std::vector<TensorInfo>& inputs() const override { return parts_.inputs; }
  const std::vector<TensorInfo>& outputs() const override { return parts_.outputs; }
  int64_t max_batch_size() const override { return parts_.max_batch_size; }
  const CompileReport& report() const override { return parts_.report; }
  CompileReport& mutable_report() { return parts_.report; }

  absl::Status ValidateInputs(absl::Span<const core::TensorView> inputs) const override;
  std::vector<core::Dims> OutputDims(int64_t batch) const override;
  absl::StatusOr<std::vector<core::Dims>> OutputDimsFor(absl::Span<const core::TensorView> inputs) const override;
  absl::Status OutputDimsInto(absl::Span<const core::TensorView> inputs, std::vector<core::Dims>* dims) const override;
  std::vector<core::Dims> ExampleInputDims(int64_t batch) const override;
  bool can_warm_up() const override;
  int64_t cached_plans() const override { return static_cast<int64_t>(plans_.num_programs()); }
  absl::Status Run(absl::Span<const core::TensorView> inputs,
                   absl::Span<const core::MutableTensorView> outputs) const override;
  MemoryStats memory() const override;
  // True once a plan exists (the kernels then hold the weights).
  bool has_programs() const { return plans_.num_programs() > 0; }
  void ReleaseWeightSources() { plans_.ReleaseWeightSources(); }
  absl::StatusOr<std::vector<PrimitiveInfo>> Primitives(int64_t batch) const override;
  int64_t plan_builds() const override { return plans_.plan_builds(); }

 private:
  absl::Status RunUnguarded(absl::Span<const core::TensorView> inputs,
                            absl::Span<const core::MutableTensorView> outputs) const;

  Parts parts_;
  mutable PlanCache plans_;
};

}  // namespace q8::engine
