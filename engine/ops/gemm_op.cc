// Gemm and MatMul, both lowered to one matmul kernel. Constant B operands are
// transposed to [K, N] here, once per model, so every plan shares them.
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"

namespace q8::engine::ops {
namespace {

struct GemmAttrs {
  float alpha = 1, beta = 1;
  bool trans_a = false, trans_b = false;
};

absl::StatusOr<GemmAttrs> ReadGemmAttrs(const OpContext& ctx) {
  GemmAttrs g;
  const Attributes& a = ctx.node.attrs;
  Q8_ASSIGN_OR_RETURN(g.alpha, a.GetFloat("alpha", 1.0f));
  Q8_ASSIGN_OR_RETURN(g.beta, a.GetFloat("beta", 1.0f));
  Q8_ASSIGN_OR_RETURN(int64_t ta, a.GetInt("transA", 0));
  Q8_ASSIGN_OR_RETURN(int64_t tb, a.GetInt("transB", 0));
  g.trans_a = ta != 0;
  g.trans_b = tb != 0;
  if (ctx.input_dims[0].size() != 2 || ctx.input_dims[1].size() != 2) {
    return ctx.Error(absl::StrCat("Gemm needs 2-D A and B, got ", core::DimsToString(ctx.input_dims[0]), " and ",
                                  core::DimsToString(ctx.input_dims[1])));
  }
  if (ctx.constant(0) != nullptr) return ctx.Unsupported("a constant A operand");
  return g;
}

// [rows, cols] float tensor -> its transpose.
std::shared_ptr<const core::Tensor> Transposed(const core::Tensor& t) {
  const int64_t rows = t.dims()[0], cols = t.dims()[1];
  auto out = std::make_shared<core::Tensor>(core::DataType::kFloat32, core::Dims{cols, rows});
  auto src = t.span<float>();
  auto dst = out->span<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferGemm(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(GemmAttrs g, ReadGemmAttrs(ctx));
  const core::Dims& a = ctx.input_dims[0];
  const core::Dims& b = ctx.input_dims[1];
  const int64_t m = g.trans_a ? a[1] : a[0], k = g.trans_a ? a[0] : a[1];
  const int64_t k_b = g.trans_b ? b[1] : b[0];
  const int64_t n = g.trans_b ? b[0] : b[1];
  if (k != k_b) {
    return ctx.Error(absl::StrCat("A ", core::DimsToString(a), " and B ", core::DimsToString(b),
                                  (g.trans_b ? " (transposed)" : ""), " disagree on K"));
  }
  if (ctx.has_input(2)) {
    core::Dims c;
    if (!core::BroadcastShapes(ctx.input_dims[2], {m, n}, &c) || c != core::Dims{m, n}) {
      return ctx.Error(
          absl::StrCat("C ", core::DimsToString(ctx.input_dims[2]), " does not broadcast to [", m, ",", n, "]"));
    }
  }
  return std::vector<core::Dims>{{m, n}};
}

// True when the oneDNN matmul step cannot take this Gemm: transA, a
// transposed runtime B, a runtime C or a C that is not a row / scalar.
bool NeedsPlainGemm(const OpContext& ctx, const GemmAttrs& g) {
  if (g.trans_a || (g.trans_b && ctx.constant(1) == nullptr)) return true;
  if (!ctx.has_input(2)) return false;
  const core::Tensor* c = ctx.constant(2);
  if (c == nullptr) return true;
  const int64_t n = ctx.input_dims[1][g.trans_b ? 0 : 1];
  const core::Dims& cd = c->dims();
  return !(c->num_elements() == 1 || (c->num_elements() == n && (cd.size() == 1 || (cd.size() == 2 && cd[0] == 1))));
}

absl::StatusOr<Lowering> LowerGemm(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(GemmAttrs g, ReadGemmAttrs(ctx));
  Q8_RETURN_IF_ERROR(InferGemm(ctx).status());
  if (NeedsPlainGemm(ctx, g)) {
    if (!ctx.node.fused.empty()) return ctx.Unsupported("a fused activation on a transA / runtime-C Gemm");
    Lowering l;
    kernels::DataOpParams p;
    p.op.emplace<kernels::ValueOp>(kernels::GemmOp{g.alpha, g.beta, g.trans_a, g.trans_b, ctx.has_input(2)});
    for (int i = 0; i < 3; ++i) {
      if (!ctx.has_input(i)) continue;
      auto c = ctx.shared_constant(i);
      if (c != nullptr && c->dtype() != core::DataType::kFloat32) return ctx.Error("Gemm operands must be float32");
      if (c == nullptr) l.runtime_inputs.push_back(i);
      p.operands.push_back(std::move(c));
    }
    l.params = std::move(p);
    return l;
  }
  kernels::MatMulParams p;
  p.alpha = g.alpha;
  p.post_ops = PostOps(ctx.node);
  Lowering l;
  l.runtime_inputs = {0};
  const core::Tensor* b = ctx.constant(1);
  if (b != nullptr) {
    if (b->dtype() != core::DataType::kFloat32) return ctx.Error("B must be float32");
    p.weights = g.trans_b ? Transposed(*b) : ctx.shared_constant(1);
  } else {
    if (g.trans_b) return ctx.Unsupported("transB=1 with a runtime B");
    l.runtime_inputs.push_back(1);
  }
  const int64_t n = g.trans_b ? ctx.input_dims[1][0] : ctx.input_dims[1][1];
  if (ctx.has_input(2)) {
    const core::Tensor* c = ctx.constant(2);
    if (c == nullptr) return ctx.Unsupported("a runtime C operand");
    const core::Dims& cd = c->dims();
    const bool row = c->num_elements() == n && (cd.size() == 1 || (cd.size() == 2 && cd[0] == 1));
    const bool scalar = c->num_elements() == 1;
    if (!row && !scalar) {
      return ctx.Unsupported(absl::StrCat("C of shape ", core::DimsToString(cd), "; only [N], [1,N] or scalar"));
    }
    auto bias = std::make_shared<core::Tensor>(core::DataType::kFloat32, core::Dims{n});
    auto src = c->span<float>();
    auto dst = bias->span<float>();
    // matmul computes alpha*(A*B) + bias, so fold beta (and not alpha) into the bias.
    for (int64_t i = 0; i < n; ++i) dst[i] = g.beta * src[scalar ? 0 : i];
    p.bias = std::move(bias);
  }
  l.params = std::move(p);
  return l;
}

absl::StatusOr<std::vector<core::Dims>> InferMatMul(const OpContext& ctx) {
  const core::Dims& a = ctx.input_dims[0];
  const core::Dims& b = ctx.input_dims[1];
  if (a.size() < 2 || b.size() < 2) return ctx.Unsupported("1-D MatMul operands");
  if (a.back() != b[b.size() - 2]) {
    return ctx.Error(absl::StrCat("A ", core::DimsToString(a), " and B ", core::DimsToString(b), " disagree on K"));
  }
  core::Dims batch;
  if (!core::BroadcastShapes(absl::MakeSpan(a).subspan(0, a.size() - 2), absl::MakeSpan(b).subspan(0, b.size() - 2),
                             &batch)) {
    return ctx.Error("batch dimensions of A and B do not broadcast");
  }
  batch.push_back(a[a.size() - 2]);
  batch.push_back(b.back());
  return std::vector<core::Dims>{batch};
}

absl::StatusOr<Lowering> LowerMatMul(const OpContext& ctx) {
  if (ctx.constant(0) != nullptr) return ctx.Unsupported("a constant A operand");
  kernels::MatMulParams p;
  p.post_ops = PostOps(ctx.node);
  Lowering l;
  l.runtime_inputs = {0};
  if (const core::Tensor* b = ctx.constant(1)) {
    if (b->dims().size() != 2) return ctx.Unsupported("a constant B of rank other than 2");
    if (b->dtype() != core::DataType::kFloat32) return ctx.Error("B must be float32");
    p.weights = ctx.shared_constant(1);
  } else {
    l.runtime_inputs.push_back(1);
  }
  if (ctx.has_input(2)) {  // a bias fused by fuse_matmul_bias: constant f32 [N]
    const core::Tensor* c = ctx.constant(2);
    const int64_t n = ctx.input_dims[1].back();
    if (c == nullptr || c->dtype() != core::DataType::kFloat32 || c->dims() != core::Dims{n}) {
      return ctx.Error(absl::StrCat("a fused bias must be a float32 constant [", n, "]"));
    }
    p.bias = ctx.shared_constant(2);
  }
  if (ctx.node.accumulate) {  // a residual fused by fuse_residual_add (input 3)
    if (p.weights == nullptr || !ctx.has_input(3)) return ctx.Error("a fused residual needs constant weights");
    p.accumulate = true;
    l.runtime_inputs.push_back(3);
  }
  l.params = std::move(p);
  return l;
}

}  // namespace q8::engine::ops
