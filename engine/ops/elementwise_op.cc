// Element-wise ops: Relu / Clip / Sigmoid activations and broadcasting Add / Mul.
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"

namespace q8::engine::ops {
namespace {

absl::StatusOr<float> ClipBound(const OpContext& ctx, int input, const char* attr, float fallback) {
  if (ctx.opset < 11) return ctx.node.attrs.GetFloat(attr, fallback);
  if (!ctx.has_input(input)) return fallback;
  const core::Tensor* t = ctx.constant(input);
  if (t == nullptr) return ctx.Unsupported(absl::StrCat("a runtime '", attr, "' bound"));
  if (t->num_elements() != 1 || t->dtype() != core::DataType::kFloat32) {
    return ctx.Error(absl::StrCat("'", attr, "' must be a float32 scalar"));
  }
  return t->span<float>()[0];
}

}  // namespace

absl::StatusOr<kernels::Activation> ActivationOf(const OpContext& ctx) {
  kernels::Activation act;
  const std::string& op = ctx.node.op_type;
  if (op == "Relu") {
    act.kind = kernels::Activation::Kind::kRelu;
  } else if (op == "Sigmoid") {
    act.kind = kernels::Activation::Kind::kSigmoid;
  } else if (op == "Clip") {
    act.kind = kernels::Activation::Kind::kClip;
    Q8_ASSIGN_OR_RETURN(act.lo, ClipBound(ctx, 1, "min", std::numeric_limits<float>::lowest()));
    Q8_ASSIGN_OR_RETURN(act.hi, ClipBound(ctx, 2, "max", std::numeric_limits<float>::max()));
  } else {
    return ctx.Error("not an activation");
  }
  return act;
}

absl::StatusOr<std::vector<core::Dims>> InferActivation(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(ActivationOf(ctx).status());
  return std::vector<core::Dims>{ctx.input_dims[0]};
}

absl::StatusOr<Lowering> LowerActivation(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(kernels::Activation act, ActivationOf(ctx));
  Lowering l;
  l.params = kernels::EltwiseParams{act};
  l.runtime_inputs = {0};
  return l;
}

absl::StatusOr<std::vector<core::Dims>> InferBinary(const OpContext& ctx) {
  core::Dims out;
  if (!core::BroadcastShapes(ctx.input_dims[0], ctx.input_dims[1], &out)) {
    return ctx.Error(absl::StrCat("shapes ", core::DimsToString(ctx.input_dims[0]), " and ",
                                  core::DimsToString(ctx.input_dims[1]), " do not broadcast"));
  }
  return std::vector<core::Dims>{out};
}

absl::StatusOr<Lowering> LowerBinary(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> out, InferBinary(ctx));
  kernels::BinaryParams p;
  p.kind = ctx.node.op_type == "Add" ? kernels::BinaryParams::Kind::kAdd : kernels::BinaryParams::Kind::kMul;
  p.post_ops = ctx.node.fused;
  // The kernel broadcasts its second operand only, so the full-size runtime
  // operand goes first (Add and Mul commute).
  const bool c0 = ctx.constant(0) != nullptr, c1 = ctx.constant(1) != nullptr;
  Lowering l;
  if (c0 || c1) {
    const int runtime = c0 ? 1 : 0;
    if (ctx.input_dims[runtime] != out[0]) {
      return ctx.Unsupported("broadcasting the runtime operand up to the constant's shape");
    }
    const core::Tensor* c = ctx.constant(c0 ? 0 : 1);
    if (c->dtype() != core::DataType::kFloat32) return ctx.Error("constant operand must be float32");
    auto aligned = std::make_shared<core::Tensor>(c->Clone());
    aligned->Reshape(core::PadLeft(c->dims(), out[0].size()));
    p.constant = std::move(aligned);
    l.runtime_inputs = {runtime};
  } else if (ctx.input_dims[0] == out[0]) {
    l.runtime_inputs = {0, 1};
  } else if (ctx.input_dims[1] == out[0]) {
    l.runtime_inputs = {1, 0};
  } else {
    return ctx.Unsupported("both operands needing broadcast");
  }
  l.params = std::move(p);
  return l;
}

}  // namespace q8::engine::ops
