// Shared oneDNN plumbing for kernels/: the one CPU engine, the creation mutex,
// ValueSpec -> memory::desc, Activation -> post-ops, dnnl::error -> Status.
// dnnl-visible: include only from kernels/*.cc, never from a public header.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "kernels/kernel_params.h"
#include "kernels/program.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace q8::kernels::internal {

// The process-wide CPU engine. Cheap to copy (a handle); created on first use.
const dnnl::engine& CpuEngine();

// Held while creating primitive descriptors / primitives. oneDNN 2.6.3's
// brgemm convolution setup writes a plain static (fixed in 2.7), so concurrent
// creation from two loader threads is a data race. Execution needs no lock.
std::mutex& CreationMutex();

// UNIMPLEMENTED for dtypes oneDNN has no CPU support for (f64, u16, ...).
absl::StatusOr<dnnl::memory::data_type> ToDnnl(core::DataType dtype);

// Dense row-major desc over `dims` (rank 0 is described as [1]).
dnnl::memory::desc PlainDesc(const core::Dims& dims, dnnl::memory::data_type dt);

// The desc a ValueSpec's bytes have: logical dims, physical layout from
// `layout` (kNhwc -> acdb, 4-D only).
absl::StatusOr<dnnl::memory::desc> DescOf(const ValueSpec& value);

// True for 4-D values whose NHWC and plain byte orders coincide (C == 1 or
// H*W == 1): the engine then relabels layouts without a Reorder step.
bool SameBytesAsPlain(const ValueSpec& value);

// Strides (in elements) of a desc that is not blocked; used by Transpose to
// describe a permuted view of its input.
absl::StatusOr<dnnl::memory::dims> StridesOf(const dnnl::memory::desc& desc);

// One oneDNN eltwise operation; an Activation expands to one or more.
struct EltwiseStage {
  dnnl::algorithm algorithm;
  float alpha = 0.0f, beta = 0.0f;
};
std::vector<EltwiseStage> EltwiseStages(const Activation& activation);
// True when act(c * x) == c * act(x) for c > 0 once clip bounds are scaled
// (relu with any slope, clip): the int8 paths may fold scales through it.
bool IsPositivelyHomogeneous(const Activation& activation);

// Fused activations in order, each expanded by EltwiseStages.
dnnl::post_ops MakePostOps(absl::Span<const Activation> activations);

// int8 helpers. Quantized values are u8/s8 with real = scale * q, zero
// point 0 (ValueSpec::scale); f32 values have scale 1.
bool IsInt8(core::DataType dtype);
float RealScale(const ValueSpec& value);  // ValueSpec::scale for int8, else 1
bool ValidScale(float scale);             // finite and > 0
bool SameScale(float a, float b);         // equal up to float noise (1e-6 relative)

// The residual add of ConvParams::accumulate as a sum post-op.
struct SumPostOp {
  float residual_scale = 1.0f;  // real = residual_scale * stored residual (1 for f32)
  dnnl::memory::data_type data_type = dnnl::memory::data_type::undef;  // set when it differs from dst
};

// Post-ops of a primitive whose f32 result (after output scales) is the real
// value times `output_factor`, written to a dst with scale `dst_scale` (1 for
// f32). oneDNN 2.6 applies output scales, then post-ops in order, then rounds
// (nearest-even) and saturates into dst. When every activation commutes with
// a positive scale (relu, clip with scaled bounds), 1/dst_scale is folded into
// the output scales (output_factor = 1/dst_scale), clip bounds and the sum
// scale are divided by dst_scale. Otherwise (sigmoid) the chain runs in real
// units (output_factor = 1) and the last eltwise post-op carries 1/dst_scale
// as its scale. The sum, if any, comes first. A non-zero `dst_zero_point`
// (asymmetric u8 dst) adds a last linear post-op: x * (1/dst_scale when the
// chain ran in real units, else 1) + dst_zero_point.
struct QuantizedPostOps {
  dnnl::post_ops ops;
  float output_factor = 1.0f;
};
QuantizedPostOps MakeQuantizedPostOps(absl::Span<const Activation> activations, float dst_scale,
                                      const std::optional<SumPostOp>& sum = std::nullopt, int32_t dst_zero_point = 0);

// Every primitive we build uses a user scratchpad so that one primitive can
// run concurrently from several Workspaces (the library-owned scratchpad is
// thread_local in Debian's build and breaks cross-thread execution).
dnnl::primitive_attr MakeAttr(absl::Span<const Activation> post_ops = {});

// dnnl_unimplemented -> UNIMPLEMENTED, dnnl_invalid_arguments ->
// INVALID_ARGUMENT, anything else -> INTERNAL. `context` names the step.
absl::Status ErrorToStatus(const dnnl::error& e, absl::string_view context);

// "[1,3,224,224] f32 nhwc" for messages.
std::string DescribeValue(const ValueSpec& value);

}  // namespace q8::kernels::internal
