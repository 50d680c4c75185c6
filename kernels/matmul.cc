// Owns the MatMul kernel: Y = alpha * A x B + bias, then fused activations.
// Constant B ([K,N]) is created as format_tag::any and reordered once through
// the WeightCache; then A's leading dims are flattened into M, which is the
// same bytes and gives brgemm one large GEMM. Runtime B (input 1) keeps its
// batch dims; ONNX broadcasting maps onto oneDNN's size-1 batch dims after
// left-padding the shorter operand with 1s. src/dst are plain (row-major).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {
namespace {

core::Dims PadTo(const core::Dims& dims, size_t rank) {
  core::Dims out(rank - dims.size(), 1);
  out.insert(out.end(), dims.begin(), dims.end());
  return out;
}

}  // namespace

KernelOr Create(const MatMulParams& p, const KernelRequest& r) {
  const bool constant_b = p.weights != nullptr;
  Q8_RETURN_IF_ERROR(ExpectArity(r, constant_b ? 1 : 2, 1));
  for (const auto* v : r.inputs) {
    if (v->layout != Layout::kPlain || v->dims.size() < 2)
      return Invalid(r, "MatMul operands must be plain, rank >= 2");
  }
  const ValueSpec& a = *r.inputs[0];
  const ValueSpec& y = *r.outputs[0];
  if (y.layout != Layout::kPlain) return Invalid(r, "MatMul output must be plain");
  const core::Dims b_dims = constant_b ? p.weights->dims() : r.inputs[1]->dims;
  if (constant_b && b_dims.size() != 2) return Invalid(r, "constant weights must be [K, N]");
  const size_t rank = std::max(a.dims.size(), b_dims.size());
  const core::Dims ad = PadTo(a.dims, rank), bd = PadTo(b_dims, rank);
  const int64_t m = ad[rank - 2], k = ad[rank - 1], n = bd[rank - 1];
  if (bd[rank - 2] != k) return Invalid(r, absl::StrCat("inner dims differ: A has K=", k, ", B has ", bd[rank - 2]));
  core::Dims expected(rank);
  for (size_t i = 0; i + 2 < rank; ++i) {
    if (ad[i] != bd[i] && ad[i] != 1 && bd[i] != 1) return Invalid(r, "batch dims do not broadcast");
    expected[i] = std::max(ad[i], bd[i]);
  }
  expected[rank - 2] = m;
  expected[rank - 1] = n;
  if (y.dims != expected) return Invalid(r, absl::StrCat("output must be ", core::DimsToString(expected)));
  if (p.bias != nullptr && p.bias->dims() != core::Dims{n}) return Invalid(r, absl::StrCat("bias must be [", n, "]"));
  if (p.alpha == 0.0f) return absl::UnimplementedError(absl::StrCat(StepContext(r), ": alpha = 0"));

  Q8_ASSIGN_OR_RETURN(auto a_dt, ToDnnl(a.dtype));
  Q8_ASSIGN_OR_RETURN(auto y_dt, ToDnnl(y.dtype));
  Q8_ASSIGN_OR_RETURN(auto b_dt, ToDnnl(constant_b ? p.weights->dtype() : r.inputs[1]->dtype));
  dnnl::memory::desc a_md, b_md, y_md, bias_md;
  if (constant_b) {
    const int64_t rows = core::NumElements(a.dims) / k;
    a_md = PlainDesc({rows, k}, a_dt);
    y_md = PlainDesc({rows, n}, y_dt);
    b_md = dnnl::memory::desc({k, n}, b_dt, dnnl::memory::format_tag::any);
    if (p.bias != nullptr) bias_md = PlainDesc({1, n}, dnnl::memory::data_type::f32);
  } else {
    a_md = PlainDesc(ad, a_dt);
    b_md = PlainDesc(bd, b_dt);
    y_md = PlainDesc(y.dims, y_dt);
    if (p.bias != nullptr) bias_md = PlainDesc(PadTo({n}, rank), dnnl::memory::data_type::f32);
  }
  dnnl::primitive_attr attr = MakeAttr(p.post_ops);
  // 2.x applies the output scale after the bias: (A x B + bias) * alpha. The
  // cached bias is therefore pre-divided by alpha.
  if (p.alpha != 1.0f) attr.set_output_scales(0, {p.alpha});
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, bias_md, y_md), attr, CpuEngine());

  ArgMap constants;
  std::vector<Operand> inputs{{DNNL_ARG_SRC, a_md}};
  if (constant_b) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_WEIGHTS],
                        r.weights.Get(p.weights, PlainDesc({k, n}, b_dt), pd.weights_desc()));
  } else {
    inputs.push_back({DNNL_ARG_WEIGHTS, b_md});
  }
  if (p.bias != nullptr) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_BIAS], r.weights.Get(p.bias, bias_md, pd.bias_desc(), 1.0f / p.alpha));
  }
  return std::make_unique<Kernel>(dnnl::matmul(pd), pd, std::move(inputs), std::vector<Operand>{{DNNL_ARG_DST, y_md}},
                                  std::move(constants));
}

}  // namespace q8::kernels::internal
