// Element-wise ops: Relu / Clip / Sigmoid activations and the broadcasting
// binary ops (Add, Sub, Mul, Div, Pow, Max, Min, Sum, Mean, comparisons).
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/element_convert.h"
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

absl::StatusOr<FusedActivation> FusedActivationOf(const OpContext& ctx) {
  FusedActivation act;
  const std::string& op = ctx.node.op_type;
  if (op == "Relu") {
    act.kind = FusedActivation::Kind::kRelu;
  } else if (op == "Sigmoid") {
    act.kind = FusedActivation::Kind::kSigmoid;
  } else if (op == "Clip") {
    act.kind = FusedActivation::Kind::kClip;
    Q8_ASSIGN_OR_RETURN(act.lo, ClipBound(ctx, 1, "min", std::numeric_limits<float>::lowest()));
    Q8_ASSIGN_OR_RETURN(act.hi, ClipBound(ctx, 2, "max", std::numeric_limits<float>::max()));
  } else if (op == "Gelu") {
    // (A StatusOr rather than Q8_ASSIGN_OR_RETURN: GCC 12 reports a false
    // maybe-uninitialized on the moved-out string.)
    const absl::StatusOr<std::string> approximate = ctx.node.attrs.GetString("approximate", "none");
    if (!approximate.ok()) return approximate.status();
    if (*approximate != "none" && *approximate != "tanh") return ctx.Error("approximate must be 'none' or 'tanh'");
    act.kind = *approximate == "tanh" ? FusedActivation::Kind::kGeluTanh : FusedActivation::Kind::kGeluErf;
  } else {
    return ctx.Error("not an activation");
  }
  return act;
}

kernels::Activation ToKernelActivation(const FusedActivation& a) {
  kernels::Activation k;
  switch (a.kind) {
    case FusedActivation::Kind::kRelu:
      k.kind = kernels::Activation::Kind::kRelu;
      break;
    case FusedActivation::Kind::kSigmoid:
      k.kind = kernels::Activation::Kind::kSigmoid;
      break;
    case FusedActivation::Kind::kClip:
      k.kind = kernels::Activation::Kind::kClip;
      k.lo = a.lo;
      k.hi = a.hi;
      break;
    case FusedActivation::Kind::kGeluErf:
      k.kind = kernels::Activation::Kind::kGeluErf;
      break;
    case FusedActivation::Kind::kGeluTanh:
      k.kind = kernels::Activation::Kind::kGeluTanh;
      break;
  }
  return k;
}

std::vector<kernels::Activation> PostOps(const Node& n) {
  std::vector<kernels::Activation> post_ops;
  for (const FusedActivation& a : n.fused) post_ops.push_back(ToKernelActivation(a));
  return post_ops;
}

absl::StatusOr<kernels::Activation> ActivationOf(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(FusedActivation act, FusedActivationOf(ctx));
  return ToKernelActivation(act);
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
  // Variadic Max/Min/Sum/Mean broadcast all their inputs (split_variadic
  // leaves at most two per node, but shape rules hold for any count).
  core::Dims out = ctx.input_dims[0];
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    core::Dims next;
    if (!core::BroadcastShapes(out, ctx.input_dims[i], &next)) {
      return ctx.Error(absl::StrCat("shapes ", core::DimsToString(out), " and ", core::DimsToString(ctx.input_dims[i]),
                                    " do not broadcast"));
    }
    out = std::move(next);
  }
  return std::vector<core::Dims>{out};
}

namespace {

using BK = kernels::BinaryParams::Kind;
using MK = kernels::MathParams::Kind;

struct BinaryOp {
  const char* op;
  BK kind;
  bool commutes;
  BK swapped;  // the kind computing the same with operands exchanged (comparisons)
  MK math;
};
constexpr BinaryOp kBinaryOps[] = {
    {"Add", BK::kAdd, true, BK::kAdd, MK::kAdd},
    {"Div", BK::kDiv, false, BK::kDiv, MK::kDiv},
    {"Equal", BK::kEqual, true, BK::kEqual, MK::kEqual},
    {"Greater", BK::kGreater, true, BK::kLess, MK::kGreater},
    {"GreaterOrEqual", BK::kGreaterOrEqual, true, BK::kLessOrEqual, MK::kGreaterOrEqual},
    {"Less", BK::kLess, true, BK::kGreater, MK::kLess},
    {"LessOrEqual", BK::kLessOrEqual, true, BK::kGreaterOrEqual, MK::kLessOrEqual},
    {"Max", BK::kMax, true, BK::kMax, MK::kMax},
    {"Min", BK::kMin, true, BK::kMin, MK::kMin},
    {"Mul", BK::kMul, true, BK::kMul, MK::kMul},
    {"Sub", BK::kSub, false, BK::kSub, MK::kSub},
    {"Sum", BK::kAdd, true, BK::kAdd, MK::kAdd},
};

// A numeric constant as f32 (shape arithmetic often leaves int64 scalars).
absl::StatusOr<std::shared_ptr<const core::Tensor>> FloatConstant(const OpContext& ctx, int i) {
  const core::Tensor* c = ctx.constant(i);
  if (c->dtype() == core::DataType::kFloat32) return ctx.shared_constant(i);
  auto out = std::make_shared<core::Tensor>(core::DataType::kFloat32, c->dims());
  if (absl::Status s = core::ConvertElements(c->view(), out->mutable_view()); !s.ok()) {
    return ctx.Error(absl::StrCat("constant input ", i, ": ", s.message()));
  }
  return out;
}

// The plain C++ kernel with broadcasting on both sides; at most one operand
// is a constant, which it holds as f32.
absl::StatusOr<Lowering> LowerOnMathKernel(const OpContext& ctx, kernels::MathParams::Kind kind) {
  const bool c0 = ctx.constant(0) != nullptr, c1 = ctx.constant(1) != nullptr;
  Lowering l;
  kernels::MathParams m;
  m.kind = kind;
  if (c0 || c1) {
    Q8_ASSIGN_OR_RETURN(m.constant, FloatConstant(ctx, c0 ? 0 : 1));
    m.constant_operand = c0 ? 0 : 1;
    l.runtime_inputs = {c0 ? 1 : 0};
  } else {
    l.runtime_inputs = {0, 1};
  }
  l.params = std::move(m);
  return l;
}

// Pow with a constant scalar exponent is one eltwise pass.
kernels::Activation ScalarPow(float e) {
  kernels::Activation a{kernels::Activation::Kind::kPow};
  a.alpha = 1.0f;
  a.beta = e;
  if (e == 2.0f) a = {kernels::Activation::Kind::kSquare};
  if (e == 0.5f) a = {kernels::Activation::Kind::kSqrt};
  if (e == 1.0f) {
    a = {kernels::Activation::Kind::kLinear};
    a.alpha = 1.0f;
  }
  return a;
}

}  // namespace

absl::StatusOr<Lowering> LowerBinary(const OpContext& ctx) {
  if (ctx.num_inputs() != 2) return ctx.Error("expected exactly two inputs after split_variadic");
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> out, InferBinary(ctx));
  const bool c0 = ctx.constant(0) != nullptr, c1 = ctx.constant(1) != nullptr;
  if (c0 && c1) return ctx.Unsupported("two constant operands (not folded)");
  Lowering l;
  if (ctx.node.op_type == "Pow") {
    if (c1 && ctx.constant(1)->num_elements() == 1 && ctx.input_dims[0] == out[0]) {
      Q8_ASSIGN_OR_RETURN(auto e, FloatConstant(ctx, 1));
      l.params = kernels::EltwiseParams{ScalarPow(e->span<float>()[0])};
      l.runtime_inputs = {0};
      return l;
    }
    return LowerOnMathKernel(ctx, MK::kPow);
  }
  const BinaryOp* op = nullptr;
  for (const BinaryOp& b : kBinaryOps) {
    if (ctx.node.op_type == b.op) op = &b;
  }
  if (op == nullptr) return ctx.Error("not a binary op");
  kernels::BinaryParams p;
  p.kind = op->kind;
  p.post_ops = PostOps(ctx.node);
  // The oneDNN kernel broadcasts its second operand only: the full-size
  // runtime operand goes first, exchanging operands where the op allows.
  const int full = ctx.input_dims[0] == out[0] && !c0 ? 0 : (ctx.input_dims[1] == out[0] && !c1 ? 1 : -1);
  const bool exchange = full == 1;
  const bool can_exchange = op->commutes || (op->kind == BK::kSub && ctx.node.fused.empty());
  if (full < 0 || (exchange && !can_exchange)) {
    // Plain C++ with broadcasting on both sides.
    if (!ctx.node.fused.empty()) return ctx.Unsupported("fused activations on a doubly broadcast operation");
    return LowerOnMathKernel(ctx, op->math);
  }
  if (exchange) {
    p.kind = op->swapped;
    // a - b = -(b - a)
    if (op->kind == BK::kSub)
      p.post_ops = {[] {
        kernels::Activation neg{kernels::Activation::Kind::kLinear};
        neg.alpha = -1.0f;
        return neg;
      }()};
  }
  const int other = 1 - full;
  if (ctx.constant(other) != nullptr) {
    Q8_ASSIGN_OR_RETURN(auto c, FloatConstant(ctx, other));
    auto aligned = std::make_shared<core::Tensor>(c->Clone());
    aligned->Reshape(core::PadLeft(c->dims(), out[0].size()));
    p.constant = std::move(aligned);
    l.runtime_inputs = {full};
  } else {
    l.runtime_inputs = {full, other};
  }
  l.params = std::move(p);
  return l;
}

namespace {

// Before opset 7 a 1-D slope of C values applied along axis 1 (not numpy
// broadcasting): its dims as [C, 1, ...] then.
bool LegacyChannelSlope(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  const core::Dims& s = ctx.input_dims[1];
  return ctx.opset < 7 && x.size() >= 2 && s.size() == 1 && s[0] == x[1] && s[0] != 1;
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferPRelu(const OpContext& ctx) {
  if (LegacyChannelSlope(ctx)) return std::vector<core::Dims>{ctx.input_dims[0]};
  core::Dims out;
  if (!core::BroadcastShapes(ctx.input_dims[0], ctx.input_dims[1], &out) || out != ctx.input_dims[0]) {
    return ctx.Error(absl::StrCat("slope ", core::DimsToString(ctx.input_dims[1]), " does not broadcast to X ",
                                  core::DimsToString(ctx.input_dims[0])));
  }
  return std::vector<core::Dims>{out};
}

absl::StatusOr<Lowering> LowerPRelu(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(InferPRelu(ctx).status());
  if (ctx.constant(0) != nullptr) return ctx.Unsupported("a constant X");
  const bool legacy = LegacyChannelSlope(ctx);
  Lowering l;
  l.runtime_inputs = {0};
  if (ctx.constant(1) != nullptr) {
    kernels::PReluParams p;
    Q8_ASSIGN_OR_RETURN(p.slope, FloatConstant(ctx, 1));
    if (legacy) {
      auto per_channel = std::make_shared<core::Tensor>(p.slope->Clone());
      core::Dims dims(ctx.input_dims[0].size() - 1, 1);
      dims[0] = ctx.input_dims[1][0];
      per_channel->Reshape(dims);
      p.slope = std::move(per_channel);
    }
    l.params = std::move(p);
  } else {
    if (legacy) return ctx.Unsupported("a runtime per-channel slope before opset 7");
    kernels::MathParams m;
    m.kind = MK::kPRelu;
    l.params = m;
    l.runtime_inputs.push_back(1);
  }
  return l;
}

}  // namespace q8::engine::ops
