// CompiledModel: what the server holds for one loaded model version. It owns
// the optimized graph, the shared weights, and one execution plan per batch
// size (built on first use, or at load for the warm-up sizes).
//
// Cheap vs expensive: Compile() (in compiler.h) does all parsing, graph passes
// and the first plan. Run() only executes a cached plan; the first request of
// a new batch size pays that size's plan creation once.
//
// Thread safety: all const methods may be called concurrently; Run() from
// many threads at once is the normal case.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/tensor.h"

namespace q8::engine {

struct TensorInfo {
  std::string name;
  core::DataType dtype = core::DataType::kFloat32;
  core::Dims dims;  // core::kDynamicDim (-1) marks a dynamic axis (the first one is the batch axis)
};

// Bytes the model holds, from the engine's own allocations.
struct MemoryStats {
  int64_t weights = 0;      // resident reordered weights and biases
  int64_t activations = 0;  // sum of workspace arenas currently allocated
  int64_t scratchpad = 0;   // sum of workspace scratchpads currently allocated
  // The parts of `weights` stored as int8 (s8 weights of int8 layers, their
  // compensation) and as bf16 (weights of bf16 layers); the rest is f32.
  // Last, so positional initializers of the fields above stay valid.
  int64_t weights_int8 = 0, weights_bf16 = 0;
  int64_t total() const { return weights + activations + scratchpad; }
};

// One oneDNN primitive of a plan, for reports and the no-reference-kernel check.
struct PrimitiveInfo {
  std::string node;  // ONNX node name (or inserted reorder)
  std::string op;
  std::string impl;  // oneDNN implementation name
};

struct CompileReport {
  int onnx_nodes = 0;                       // nodes in the uploaded graph
  int optimized_nodes = 0;                  // nodes after graph passes
  std::vector<std::string> passes_applied;  // "fold_batchnorm x2", ...
  std::string isa;                          // oneDNN CPU ISA in use
  double compile_seconds = 0;
};

class CompiledModel {
 public:
  virtual ~CompiledModel() = default;

  virtual const std::vector<TensorInfo>& inputs() const = 0;
  virtual const std::vector<TensorInfo>& outputs() const = 0;
  virtual int64_t max_batch_size() const = 0;
  virtual const CompileReport& report() const = 0;

  // Checks names are not used here: inputs are positional, in inputs() order.
  // INVALID_ARGUMENT when count, dtype, rank or a static dim differs, or the
  // batch is < 1 or > max_batch_size().
  virtual absl::Status ValidateInputs(absl::Span<const core::TensorView> inputs) const = 0;

  // Output dims for a given batch size, in outputs() order (models whose
  // only dynamic axis is the batch axis; see OutputDimsFor).
  virtual std::vector<core::Dims> OutputDims(int64_t batch) const = 0;
  // Output dims for these validated inputs: any dynamic axis, and outputs
  // shaped by the values of shape-value inputs. May build the inputs' plan.
  virtual absl::StatusOr<std::vector<core::Dims>> OutputDimsFor(absl::Span<const core::TensorView> inputs) const {
    return OutputDims(inputs.empty() || inputs[0].dims.empty() ? 1 : inputs[0].dims[0]);
  }
  // The same into `dims`, reusing its storage: a model whose only dynamic
  // axis is the batch fills it without allocating (the server's request
  // path calls this once per request).
  virtual absl::Status OutputDimsInto(absl::Span<const core::TensorView> inputs, std::vector<core::Dims>* dims) const;
  // Input dims for a warm-up or example run at `batch`: dynamic axes other
  // than the first at a representative size.
  virtual std::vector<core::Dims> ExampleInputDims(int64_t batch) const;
  // Input shapes a stream warms up at `batch` (one plan each), the
  // ExampleInputDims first: a model serving a few fixed shapes (sequence
  // buckets) builds them all before it is ready.
  virtual std::vector<std::vector<core::Dims>> WarmUpInputDims(int64_t batch) const {
    return {ExampleInputDims(batch)};
  }
  // False when a run needs real input values to be planned (INT64 inputs
  // that set shapes): such models are not warmed up on zeros.
  virtual bool can_warm_up() const { return true; }

  // Runs the model. `outputs` must be preallocated with OutputDims(batch) and
  // the outputs' dtypes; inputs are validated first.
  virtual absl::Status Run(absl::Span<const core::TensorView> inputs,
                           absl::Span<const core::MutableTensorView> outputs) const = 0;

  // Convenience for tests and tools: allocates the outputs.
  absl::StatusOr<std::vector<core::Tensor>> Run(absl::Span<const core::TensorView> inputs) const;

  virtual MemoryStats memory() const = 0;
  // Execution plans built so far (each new batch size builds one; an evicted
  // plan that is needed again builds again). For metrics and tests.
  virtual int64_t plan_builds() const { return 0; }
  // Execution plans currently cached (<= the model's max_cached_plans).
  virtual int64_t cached_plans() const { return 0; }
  // Primitives of the plan for `batch` (building it if needed).
  virtual absl::StatusOr<std::vector<PrimitiveInfo>> Primitives(int64_t batch) const = 0;

 private:
  absl::StatusOr<std::vector<core::Tensor>> RunAllocating(absl::Span<const core::TensorView> inputs) const;
};

}  // namespace q8::engine
