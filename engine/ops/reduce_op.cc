// Reduce* ops (Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum) lowered to the
// oneDNN reduction kernel; ReduceLogSumExp to the plain C++ one (kernels/value_ops.h). Axes come from the attribute, or
// from a constant second input (ReduceSum from opset 13, every Reduce* from opset 18).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"

namespace q8::engine::ops {
namespace {

using RK = kernels::ReductionParams::Kind;

struct ReduceName {
  const char* op;
  RK kind;
};
constexpr ReduceName kReduceOps[] = {
    {"ReduceL1", RK::kL1},     {"ReduceL2", RK::kL2},     {"ReduceLogSum", RK::kLogSum},
    {"ReduceMax", RK::kMax},   {"ReduceMean", RK::kMean}, {"ReduceMin", RK::kMin},
    {"ReduceProd", RK::kProd}, {"ReduceSum", RK::kSum},   {"ReduceSumSquare", RK::kSumSquare},
};

struct Reduction {
  RK kind = RK::kSum;
  std::vector<int64_t> axes;  // normalised, sorted, unique; empty = identity (noop_with_empty_axes)
  bool keepdims = true;
};

bool AxesAreInput(const OpContext& ctx) {
  return ctx.opset >= 18 || (ctx.node.op_type == "ReduceSum" && ctx.opset >= 13);
}

absl::StatusOr<Reduction> ReadReduction(const OpContext& ctx) {
  Reduction r;
  bool found = false;
  for (const ReduceName& n : kReduceOps) {
    if (ctx.node.op_type == n.op) {
      r.kind = n.kind;
      found = true;
    }
  }
  // ReduceLogSumExp has no oneDNN algorithm: same axes, the plain C++ kernel.
  if (!found && ctx.node.op_type != "ReduceLogSumExp") return ctx.Error("not a reduction");
  const Attributes& at = ctx.node.attrs;
  Q8_ASSIGN_OR_RETURN(int64_t keepdims, at.GetInt("keepdims", 1));
  Q8_ASSIGN_OR_RETURN(int64_t noop_empty, at.GetInt("noop_with_empty_axes", 0));
  r.keepdims = keepdims != 0;
  std::vector<int64_t> axes;
  if (AxesAreInput(ctx)) {
    if (ctx.has_input(1)) {
      Q8_ASSIGN_OR_RETURN(axes, ConstantInts(ctx, 1, "axes"));
    }
  } else {
    if (ctx.has_input(1)) return ctx.Error(absl::StrCat("takes 'axes' as an attribute at opset ", ctx.opset));
    Q8_ASSIGN_OR_RETURN(axes, at.GetInts("axes", {}));
  }
  const int64_t rank = ctx.input_dims[0].size();
  if (axes.empty()) {
    if (noop_empty != 0) return r;  // identity
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  }
  for (int64_t& a : axes) {
    if (a < -rank || a >= rank) return ctx.Error(absl::StrCat("axis ", a, " is out of range for rank ", rank));
    if (a < 0) a += rank;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) return ctx.Error("'axes' repeats an axis");
  r.axes = std::move(axes);
  return r;
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferReduce(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Reduction r, ReadReduction(ctx));
  const core::Dims& in = ctx.input_dims[0];
  core::Dims out;
  for (int64_t i = 0; i < static_cast<int64_t>(in.size()); ++i) {
    const bool reduced = std::binary_search(r.axes.begin(), r.axes.end(), i);
    if (!reduced) {
      out.push_back(in[i]);
    } else if (r.keepdims) {
      out.push_back(1);
    }
  }
  return std::vector<core::Dims>{out};
}

absl::StatusOr<Lowering> LowerReduce(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Reduction r, ReadReduction(ctx));
  if (ctx.node.op_type == "ReduceLogSumExp") {
    Lowering l;
    kernels::DataOpParams p;
    p.op.emplace<kernels::ValueOp>(kernels::ReduceLogSumExpOp{r.axes, r.keepdims});
    p.operands = {nullptr};
    l.params = std::move(p);
    l.runtime_inputs = {0};
    return l;
  }
  kernels::ReductionParams p;
  p.kind = r.kind;
  p.axes = r.axes;  // empty: every extent stays, the kernel runs the single-element form
  Lowering l;
  l.params = std::move(p);
  l.runtime_inputs = {0};
  return l;
}

}  // namespace q8::engine::ops
