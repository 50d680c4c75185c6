// Shared oneDNN plumbing for kernels/: the one CPU engine, the creation mutex,
// ValueSpec -> memory::desc, Activation -> post-ops, dnnl::error -> Status.
// dnnl-visible: include only from kernels/*.cc, never from a public header.
#pragma once

#include <cstdint>
#include <mutex>
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

// Fused activations in order. relu -> eltwise_relu, clip -> eltwise_clip(lo,
// hi), sigmoid -> eltwise_logistic.
dnnl::post_ops MakePostOps(absl::Span<const Activation> activations);
dnnl::algorithm EltwiseAlgorithm(const Activation& activation);

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
