// The internal Kernel: one built step of a Program. Created once (expensive:
// primitive descriptor, primitive, weight reorders through the WeightCache),
// then bound once per Workspace (cheap: an argument map) and executed per Run
// (only primitive::execute). dnnl-visible; never included by engine/.
//
// Thread safety: a Kernel is immutable after creation; Execute may run
// concurrently with different argument maps (scratchpads are per Workspace).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/program.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace q8::kernels::internal {

using ArgMap = std::unordered_map<int, dnnl::memory>;

// Thrown by a plain C++ kernel's Execute when a value the request sent is
// unusable (a runtime index out of range): Program::Run turns it into
// INVALID_ARGUMENT for that request. Kernels check such values before they
// write anything, so nothing half-done is left behind.
struct RequestValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A step's arguments bound to one Workspace. The C array is prebuilt so that
// Execute allocates nothing (the C++ execute(stream, map) copies the map into
// a fresh vector on every call); `memories` keeps the handles alive.
struct BoundArgs {
  ArgMap memories;
  std::vector<dnnl_exec_arg_t> c_args;
  // Kernels with their own Execute (see DynamicMatMul) keep further
  // per-workspace memories and a second argument array here.
  std::vector<dnnl::memory> extra;
  std::vector<dnnl_exec_arg_t> c_args_alt;
  // Plain C++ kernels (DataOpKernel) see their operands as tensor views,
  // built at Bind; Execute refreshes their data pointers (the caller's
  // buffers change per Run). Mutable: a workspace runs one Run at a time.
  mutable std::vector<core::TensorView> views;
  mutable core::MutableTensorView out_view;
};

// Everything a per-op Create overload needs besides its params.
struct KernelRequest {
  const StepSpec& step;
  std::vector<const ValueSpec*> inputs;   // step.inputs resolved
  std::vector<const ValueSpec*> outputs;  // step.outputs resolved
  WeightCache::Impl& weights;
};

// How a kernel sees one of its step's values: the primitive argument it is
// passed as (kArgNone: not passed, e.g. a conv's residual input, which
// shares the output's bytes), and the desc it is read/written under. The desc usually equals
// DescOf(value) but may be another view of the same bytes (a permuted view
// for Transpose, leading 1s or flattened batch dims for MatMul).
inline constexpr int kArgNone = 0;  // no DNNL_ARG_* is 0
struct Operand {
  int arg = kArgNone;
  dnnl::memory::desc desc;
};

class Kernel {
 public:
  // `constants` are the pre-reordered weights/biases (owned by the cache).
  Kernel(dnnl::primitive primitive, const dnnl::primitive_desc_base& pd, std::vector<Operand> inputs,
         std::vector<Operand> outputs, ArgMap constants = {});
  virtual ~Kernel() = default;

  const std::string& impl() const { return impl_; }
  const dnnl::memory::desc& scratchpad_desc() const { return scratchpad_desc_; }
  int64_t scratchpad_bytes() const { return static_cast<int64_t>(scratchpad_desc_.get_size()); }
  const std::vector<Operand>& inputs() const { return inputs_; }
  const std::vector<Operand>& outputs() const { return outputs_; }

  // Argument map over memories built (by the Workspace) from inputs()/outputs()
  // descs, plus the constants and the scratchpad (may be empty if none needed).
  virtual BoundArgs Bind(absl::Span<const dnnl::memory> inputs, absl::Span<const dnnl::memory> outputs,
                         const dnnl::memory& scratchpad) const;
  // Throws dnnl::error on failure (the caller converts it).
  virtual void Execute(dnnl::stream& stream, const BoundArgs& args) const;

 protected:
  // For kernels in plain C++ (no primitive; they override Execute).
  Kernel(std::string impl, std::vector<Operand> inputs, std::vector<Operand> outputs, ArgMap constants = {});
  // For kernels that run more than their one primitive.
  void set_impl(std::string impl) { impl_ = std::move(impl); }
  void set_scratchpad_desc(const dnnl::memory::desc& desc) { scratchpad_desc_ = desc; }
  static void ExecuteC(const dnnl::primitive& primitive, dnnl::stream& stream,
                       const std::vector<dnnl_exec_arg_t>& args);

 private:
  dnnl::primitive primitive_;
  std::string impl_;
  dnnl::memory::desc scratchpad_desc_;
  std::vector<Operand> inputs_;
  std::vector<Operand> outputs_;
  ArgMap constants_;
};

// A kernel in plain C++ over one f32 input and one f32 output (impl
// "q8:cpp"): it binds the two memories and hands their data to Compute.
class PlainFloatKernel : public Kernel {
 public:
  BoundArgs Bind(absl::Span<const dnnl::memory> inputs, absl::Span<const dnnl::memory> outputs,
                 const dnnl::memory&) const final {
    BoundArgs bound;
    bound.extra = {inputs[0], outputs[0]};
    return bound;
  }
  void Execute(dnnl::stream&, const BoundArgs& args) const final {
    Compute(static_cast<const float*>(args.extra[0].get_data_handle()),
            static_cast<float*>(args.extra[1].get_data_handle()));
  }

 protected:
  PlainFloatKernel(std::vector<Operand> inputs, std::vector<Operand> outputs)
      : Kernel("q8:cpp", std::move(inputs), std::move(outputs)) {}
  virtual void Compute(const float* x, float* y) const = 0;
};

// Per-op factories, one per KernelParams alternative (one .cc file each).
// They may throw dnnl::error; CreateKernel converts it. Validation failures
// are returned as INVALID_ARGUMENT naming the step.
using KernelOr = absl::StatusOr<std::unique_ptr<Kernel>>;
KernelOr Create(const ConvParams& p, const KernelRequest& r);
KernelOr Create(const MatMulParams& p, const KernelRequest& r);
KernelOr Create(const PoolParams& p, const KernelRequest& r);
KernelOr Create(const EltwiseParams& p, const KernelRequest& r);
KernelOr Create(const BinaryParams& p, const KernelRequest& r);
KernelOr Create(const SoftmaxParams& p, const KernelRequest& r);
KernelOr Create(const ConcatParams& p, const KernelRequest& r);
KernelOr Create(const BatchNormParams& p, const KernelRequest& r);
KernelOr Create(const ReorderParams& p, const KernelRequest& r);
KernelOr Create(const TransposeParams& p, const KernelRequest& r);
KernelOr Create(const DataOpParams& p, const KernelRequest& r);
KernelOr Create(const DeconvParams& p, const KernelRequest& r);
KernelOr Create(const ReductionParams& p, const KernelRequest& r);
KernelOr Create(const LayerNormParams& p, const KernelRequest& r);
KernelOr Create(const InstanceNormParams& p, const KernelRequest& r);
KernelOr Create(const LrnParams& p, const KernelRequest& r);
KernelOr Create(const MathParams& p, const KernelRequest& r);
KernelOr Create(const PReluParams& p, const KernelRequest& r);
KernelOr Create(const RnnParams& p, const KernelRequest& r);
KernelOr Create(const ResizeParams& p, const KernelRequest& r);
KernelOr Create(const GridSampleParams& p, const KernelRequest& r);
// MatMulParams::dynamic (matmul_dynamic.cc); `b_dims` is [K, N].
KernelOr CreateDynamicMatMul(const MatMulParams& p, const KernelRequest& r, const core::Dims& b_dims);
// LayerNormalization with a u8/s8 output (layer_norm_quantize.cc), after
// normalization.cc validated arity, axis and scale/bias as [rows, cols].
KernelOr CreateQuantizingLayerNorm(const LayerNormParams& p, const KernelRequest& r, int64_t rows, int64_t cols);
// ConvParams::dynamic (conv_dynamic.cc), after conv.cc validated the step;
// `w_dims` are the weights' [OC, IC/g, KH, KW].
KernelOr CreateDynamicConv(const ConvParams& p, const KernelRequest& r, const core::Dims& w_dims, bool accumulate);

// Dispatches on step.params; never throws. Caller holds CreationMutex().
KernelOr CreateKernel(const KernelRequest& request);

// "step 'conv1' (Conv) inputs [..] outputs [..]": prefix for every message.
std::string StepContext(const KernelRequest& request);
// INVALID_ARGUMENT unless the step has exactly these many inputs/outputs.
absl::Status ExpectArity(const KernelRequest& request, size_t inputs, size_t outputs);
// INVALID_ARGUMENT "<context>: <what>".
absl::Status Invalid(const KernelRequest& request, absl::string_view what);
// The residual input `input` of an accumulating step (ConvParams /
// MatMulParams::accumulate): same dims, layout, storage and element size as
// the output, which oneDNN's sum post-op reads it from; both float of one
// type (float `int8` false) or both int8 with a valid residual scale.
absl::StatusOr<SumPostOp> ResidualSum(const KernelRequest& request, size_t input, bool int8);

}  // namespace q8::kernels::internal
