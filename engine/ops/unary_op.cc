// Element-wise unary ops beyond Relu / Clip / Sigmoid: those oneDNN's eltwise
// algorithms express (alone or as a short chain) become an EltwiseParams
// step; the rest (Erf, Floor, Ceil, Softsign, trigonometry, Shrink, IsNaN,
// IsInf...) run in the plain C++ math kernel. Also the internal Swish op that fuse_gelu_swish
// produces (never accepted from a model: see CheckSignature).
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"

namespace q8::engine::ops {
namespace {

using AK = kernels::Activation::Kind;
using MK = kernels::MathParams::Kind;

struct MathName {
  const char* op;
  MK kind;
};
constexpr MathName kMathOps[] = {
    {"Acos", MK::kAcos},         {"Acosh", MK::kAcosh}, {"Asin", MK::kAsin},
    {"Asinh", MK::kAsinh},       {"Atan", MK::kAtan},   {"Atanh", MK::kAtanh},
    {"Ceil", MK::kCeil},         {"Celu", MK::kCelu},   {"Cos", MK::kCos},
    {"Cosh", MK::kCosh},         {"Erf", MK::kErf},     {"Floor", MK::kFloor},
    {"Sign", MK::kSign},         {"Sin", MK::kSin},     {"Sinh", MK::kSinh},
    {"Softsign", MK::kSoftsign}, {"Tan", MK::kTan},     {"ThresholdedRelu", MK::kThresholdedRelu},
    {"Shrink", MK::kShrink},     {"IsNaN", MK::kIsNaN}, {"IsInf", MK::kIsInf},
};

absl::StatusOr<kernels::Activation> Act(AK kind, float alpha = 0.0f, float beta = 0.0f) {
  kernels::Activation a{kind};
  a.alpha = alpha;
  a.beta = beta;
  return a;
}

}  // namespace

absl::StatusOr<kernels::Activation> UnaryActivationOf(const OpContext& ctx) {
  const std::string& op = ctx.node.op_type;
  const Attributes& at = ctx.node.attrs;
  if (op == "Tanh") return Act(AK::kTanh);
  if (op == "Exp") return Act(AK::kExp);
  if (op == "Log") return Act(AK::kLog);
  if (op == "Sqrt") return Act(AK::kSqrt);
  if (op == "Abs") return Act(AK::kAbs);
  if (op == "Neg") return Act(AK::kLinear, -1.0f, 0.0f);
  if (op == "Reciprocal") return Act(AK::kPow, 1.0f, -1.0f);
  if (op == "Softplus") return Act(AK::kSoftplus);
  if (op == "Mish") return Act(AK::kMish);
  if (op == "Round") return Act(AK::kRound);
  if (op == "HardSwish") return Act(AK::kHardSwish);
  if (op == "Swish") return Act(AK::kSwish, 1.0f);
  if (op == "Elu") {
    Q8_ASSIGN_OR_RETURN(float alpha, at.GetFloat("alpha", 1.0f));
    return Act(AK::kElu, alpha);
  }
  if (op == "LeakyRelu") {
    Q8_ASSIGN_OR_RETURN(float alpha, at.GetFloat("alpha", 0.01f));
    return Act(AK::kRelu, alpha);
  }
  if (op == "HardSigmoid") {
    Q8_ASSIGN_OR_RETURN(float alpha, at.GetFloat("alpha", 0.2f));
    Q8_ASSIGN_OR_RETURN(float beta, at.GetFloat("beta", 0.5f));
    return Act(AK::kHardSigmoid, alpha, beta);
  }
  if (op == "Selu") {
    Q8_ASSIGN_OR_RETURN(float alpha, at.GetFloat("alpha", 1.67326319217681884765625f));
    Q8_ASSIGN_OR_RETURN(float gamma, at.GetFloat("gamma", 1.05070102214813232421875f));
    return Act(AK::kSelu, alpha, gamma);
  }
  if (op == "Gelu") {
    Q8_ASSIGN_OR_RETURN(std::string approximate, at.GetString("approximate", "none"));
    if (approximate == "none") return Act(AK::kGeluErf);
    if (approximate == "tanh") return Act(AK::kGeluTanh);
    return ctx.Error(absl::StrCat("approximate must be 'none' or 'tanh'"));
  }
  return ctx.Error("not an eltwise activation");
}

absl::StatusOr<std::vector<core::Dims>> InferUnary(const OpContext& ctx) {
  return std::vector<core::Dims>{ctx.input_dims[0]};
}

absl::StatusOr<Lowering> LowerUnary(const OpContext& ctx) {
  Lowering l;
  l.runtime_inputs = {0};
  for (const MathName& m : kMathOps) {
    if (ctx.node.op_type != m.op) continue;
    kernels::MathParams p;
    p.kind = m.kind;
    if (m.kind == MK::kThresholdedRelu || m.kind == MK::kCelu) {
      Q8_ASSIGN_OR_RETURN(p.alpha, ctx.node.attrs.GetFloat("alpha", 1.0f));
      if (m.kind == MK::kCelu && !(p.alpha != 0.0f)) return ctx.Error("alpha must be non-zero");
    }
    if (m.kind == MK::kShrink) {
      Q8_ASSIGN_OR_RETURN(p.alpha, ctx.node.attrs.GetFloat("lambd", 0.5f));
      Q8_ASSIGN_OR_RETURN(p.beta, ctx.node.attrs.GetFloat("bias", 0.0f));
    }
    if (m.kind == MK::kIsInf) {
      Q8_ASSIGN_OR_RETURN(int64_t pos, ctx.node.attrs.GetInt("detect_positive", 1));
      Q8_ASSIGN_OR_RETURN(int64_t neg, ctx.node.attrs.GetInt("detect_negative", 1));
      p.alpha = pos != 0 ? 1.0f : 0.0f;
      p.beta = neg != 0 ? 1.0f : 0.0f;
    }
    l.params = p;
    return l;
  }
  Q8_ASSIGN_OR_RETURN(kernels::Activation act, UnaryActivationOf(ctx));
  l.params = kernels::EltwiseParams{act};
  return l;
}

}  // namespace q8::engine::ops
