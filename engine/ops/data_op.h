// Resolution of ONNX data-movement and index nodes (Gather, Slice, Split,
// Pad, Expand, Tile, Where, Cast, Transpose, Concat, DepthToSpace,
// SpaceToDepth, Not/And/Or/Xor) into the plain ops of kernels/data_ops.h:
// attributes and index inputs are read, normalised and checked here, once,
// and the result serves the op table (shapes, lowering to a Program step)
// and constant evaluation alike.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "engine/ops/op_table.h"
#include "kernels/data_ops.h"

namespace q8::engine {

struct ResolvedDataOp {
  struct Output {
    kernels::DataOp op;
    core::Dims dims;
  };
  // Node input slots every output's op reads, in the op's input order.
  std::vector<int> data_inputs;
  std::vector<Output> outputs;  // one per node output (Split has several)
};

// True when ResolveDataOp knows `op_type`.
bool IsDataOp(absl::string_view op_type);

// INVALID_ARGUMENT naming the node for bad attributes, index inputs out of
// range or sizes that overflow; "not supported" when an index input (Gather
// indices, Slice starts, Pad pads, ...) is not a constant.
absl::StatusOr<ResolvedDataOp> ResolveDataOp(const OpContext& ctx);

// The ops of value_op.cc (kernels/value_ops.h), resolved for the op table
// but not folded by constant evaluation (their results are FP32-carried
// integers, not tensors of the declared type), except GatherND and ScatterND
// (IsDataOp lists them: their results keep the data's type).
bool IsValueOp(absl::string_view op_type);
absl::StatusOr<ResolvedDataOp> ResolveValueOp(const OpContext& ctx);
// Gather whose indices are a runtime tensor (checked per request).
absl::StatusOr<ResolvedDataOp> ResolveRuntimeGather(const OpContext& ctx, int axis);

}  // namespace q8::engine
