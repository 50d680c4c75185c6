// Owns the MatMul kernel: Y = alpha * A x B + bias, then fused activations.
// Constant B ([K,N]) is created as format_tag::any and reordered once through
// the WeightCache; then A's leading dims are flattened into M, which is the
// same bytes and gives brgemm one large GEMM. Runtime B (input 1) keeps its
// batch dims; ONNX broadcasting maps onto oneDNN's size-1 batch dims after
// left-padding the shorter operand with 1s. src/dst are plain (row-major).
//
// int8 (A u8/s8, static scales): constant B is `qweights` (s8 [K,N], per-N
// scales, output-scale mask 1<<(ndims-1)); a runtime B must be s8 (one scale).
// `accumulate`: input 1 is the f32 residual in the output's bytes, added by
// oneDNN's sum post-op before the activations (f32, bf16, int8 and dynamic
// alike; the output is then f32).
// Output scales alpha*s_a*s_w[n]/s_y (f32 Y: without 1/s_y), bias in the
// accumulator domain b[n]/(alpha*s_a*s_w[n]). `dynamic` lives in
// matmul_dynamic.cc.
//
// Asymmetric activations: a u8 A with zero point z_a (constant B only) runs
// the plain u8 x s8 kernel; since sum_k (q_a - z_a) w = sum_k q_a w - z_a *
// colsum[n], the accumulator-domain bias gets -z_a * qweights.column_sums[n]
// and no runtime src zero point is needed (BENCHMARKS.md, "Asymmetric
// activations": the attribute costs up to 11 % at small shapes, the fold
// nothing). A u8 Y with zero point z_y gets one last linear post-op (+z_y)
// before rounding.
//
// bf16 (A bf16): constant B is the f32 `weights`, reordered once into the
// bf16 layout the implementation chose (format_tag::any: AMX on AMX hosts);
// a runtime B must be bf16. Bias f32, Y f32 or bf16, post-ops as for f32.
#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {
namespace {

using dt = dnnl::memory::data_type;

core::Dims PadTo(const core::Dims& dims, size_t rank) {
  core::Dims out(rank - dims.size(), 1);
  out.insert(out.end(), dims.begin(), dims.end());
  return out;
}

}  // namespace

KernelOr Create(const MatMulParams& p, const KernelRequest& r) {
  const bool int8 = !r.inputs.empty() && IsInt8(r.inputs[0]->dtype);
  const bool bf16 = !r.inputs.empty() && r.inputs[0]->dtype == core::DataType::kBFloat16;
  const bool quantized_b = int8 || p.dynamic;
  // Constant B: its tensor, or only its weights_id once the engine dropped it.
  const ConstTensorPtr& b_tensor = quantized_b ? p.qweights.values : p.weights;
  const bool constant_b = b_tensor != nullptr || p.weights_id != 0;
  if (p.accumulate && !constant_b) return Invalid(r, "accumulate needs constant weights");
  Q8_RETURN_IF_ERROR(ExpectArity(r, constant_b ? 1 + (p.accumulate ? 1 : 0) : 2, 1));
  for (const auto* v : r.inputs) {
    if (v->layout != Layout::kPlain || v->dims.size() < 2)
      return Invalid(r, "MatMul operands must be plain, rank >= 2");
  }
  const ValueSpec& a = *r.inputs[0];
  const ValueSpec& y = *r.outputs[0];
  if (y.layout != Layout::kPlain) return Invalid(r, "MatMul output must be plain");
  std::optional<SumPostOp> sum;
  if (p.accumulate) {
    if (y.dtype != core::DataType::kFloat32) return Invalid(r, "accumulate: the output must be f32");
    Q8_ASSIGN_OR_RETURN(sum, ResidualSum(r, 1, false));
  }
  if (!quantized_b && p.qweights.values != nullptr) return Invalid(r, "qweights need an int8 input or `dynamic`");
  if (!int8 && !bf16 && a.dtype != core::DataType::kFloat32) return Invalid(r, "input 0 must be f32, bf16, u8 or s8");
  if (bf16 && p.dynamic) return Invalid(r, "dynamic MatMul needs an f32 input");
  core::Dims b_dims;
  core::DataType b_type = core::DataType::kUndefined;
  if (b_tensor != nullptr) {
    b_dims = b_tensor->dims();
    b_type = b_tensor->dtype();
  } else if (constant_b) {
    auto known = r.weights.Lookup(p.weights_id);
    if (!known.has_value()) return Invalid(r, "constant weights are null and weights_id has no cached copy");
    b_dims = known->dims;
    b_type = known->dtype;
  } else {
    b_dims = r.inputs[1]->dims;
    b_type = r.inputs[1]->dtype;
  }
  if (constant_b && b_dims.size() != 2) return Invalid(r, "constant weights must be [K, N]");
  if (quantized_b && b_type != core::DataType::kInt8) return Invalid(r, "int8 MatMul needs s8 weights");
  // A bf16 MatMul's constant B arrives f32 (reordered to bf16 once); a runtime B is bf16 already.
  const core::DataType float_b = bf16 && !constant_b ? core::DataType::kBFloat16 : core::DataType::kFloat32;
  if (!quantized_b && b_type != float_b) {
    return Invalid(r, absl::StrCat("a ", bf16 ? "bf16" : "f32", " MatMul needs ", core::OipName(float_b), " weights"));
  }
  if (p.dynamic) {
    if (!constant_b || a.dtype != core::DataType::kFloat32 || y.dtype != core::DataType::kFloat32) {
      return Invalid(r, "dynamic MatMul needs an f32 input, constant qweights and an f32 output");
    }
    return CreateDynamicMatMul(p, r, b_dims);
  }
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
  if (p.bias != nullptr && (p.bias->dims() != core::Dims{n} || p.bias->dtype() != core::DataType::kFloat32)) {
    return Invalid(r, absl::StrCat("bias must be f32 [", n, "]"));
  }
  if (p.alpha == 0.0f) return absl::UnimplementedError(absl::StrCat(StepContext(r), ": alpha = 0"));
  if (!int8 && !bf16 && y.dtype != core::DataType::kFloat32) return Invalid(r, "an f32 MatMul must have an f32 output");
  if (bf16 && y.dtype != core::DataType::kFloat32 && y.dtype != core::DataType::kBFloat16) {
    return Invalid(r, "a bf16 MatMul's output must be f32 or bf16");
  }
  if (int8) {
    if (!IsInt8(y.dtype) && y.dtype != core::DataType::kFloat32) return Invalid(r, "output must be u8, s8 or f32");
    if (!ValidScale(a.scale) || (IsInt8(y.dtype) && !ValidScale(y.scale))) {
      return Invalid(r, "int8 input/output scales must be finite and > 0");
    }
    if (constant_b && p.qweights.scales.size() != static_cast<size_t>(n)) {
      return Invalid(r, absl::StrCat("qweights.scales must have ", n, " values"));
    }
    for (float s : p.qweights.scales) {
      if (!ValidScale(s)) return Invalid(r, "qweights.scales must be finite and > 0");
    }
    if (!constant_b && !ValidScale(r.inputs[1]->scale)) return Invalid(r, "input 1 scale must be finite and > 0");
    if (a.zero_point != 0 && (!constant_b || p.qweights.column_sums.size() != static_cast<size_t>(n))) {
      return Invalid(r, absl::StrCat("an input zero point needs constant qweights with ", n, " column sums"));
    }
  }

  Q8_ASSIGN_OR_RETURN(auto a_dt, ToDnnl(a.dtype));
  Q8_ASSIGN_OR_RETURN(auto y_dt, ToDnnl(y.dtype));
  Q8_ASSIGN_OR_RETURN(auto b_user_dt, ToDnnl(b_type));  // the bytes B arrives in
  const auto b_dt = bf16 ? dt::bf16 : b_user_dt;        // the type the primitive computes in
  dnnl::memory::desc a_md, b_md, y_md, bias_md;
  if (constant_b) {
    const int64_t rows = core::NumElements(a.dims) / k;
    a_md = PlainDesc({rows, k}, a_dt);
    y_md = PlainDesc({rows, n}, y_dt);
    b_md = dnnl::memory::desc({k, n}, b_dt, dnnl::memory::format_tag::any);
    if (p.bias != nullptr || a.zero_point != 0) bias_md = PlainDesc({1, n}, dt::f32);
  } else {
    a_md = PlainDesc(ad, a_dt);
    b_md = PlainDesc(bd, b_dt);
    y_md = PlainDesc(y.dims, y_dt);
    if (p.bias != nullptr) bias_md = PlainDesc(PadTo({n}, rank), dt::f32);
  }
  // 2.x applies the output scale after the bias: (A x B + bias) * oscale. The
  // cached bias is therefore divided by what multiplies the accumulator
  // before the dst scale: alpha (f32), alpha * s_a * s_b[n] (int8).
  dnnl::primitive_attr attr = MakeAttr();
  const int y_ndims = static_cast<int>(y_md.dims().size());
  int mask = 0;
  std::vector<float> acc_scale{p.alpha};
  if (int8 && constant_b) {
    mask = 1 << (y_ndims - 1);
    acc_scale.resize(n);
    for (int64_t j = 0; j < n; ++j) acc_scale[j] = p.alpha * a.scale * p.qweights.scales[j];
  } else if (int8) {
    acc_scale[0] = p.alpha * a.scale * r.inputs[1]->scale;
  }
  const QuantizedPostOps post = MakeQuantizedPostOps(p.post_ops, RealScale(y), sum, y.zero_point);
  std::vector<float> oscale = acc_scale;
  for (float& s : oscale) s *= post.output_factor;
  if (mask != 0 || oscale[0] != 1.0f) attr.set_output_scales(mask, oscale);
  if (post.ops.len() > 0) attr.set_post_ops(post.ops);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, bias_md, y_md), attr, CpuEngine());

  ArgMap constants;
  std::vector<Operand> inputs{{DNNL_ARG_SRC, a_md}};
  if (p.accumulate) inputs.push_back({kArgNone, y_md});  // read by the sum post-op from dst
  if (constant_b) {
    Q8_ASSIGN_OR_RETURN(
        constants[DNNL_ARG_WEIGHTS],
        r.weights.Get({b_tensor, p.weights_id, PlainDesc({k, n}, b_user_dt), pd.weights_desc(), 0, {}}));
  } else {
    inputs.push_back({DNNL_ARG_WEIGHTS, b_md});
  }
  if (a.zero_point != 0) {
    // The fold (see the top): built in the accumulator domain, so no scales.
    auto folded = std::make_shared<core::Tensor>(core::DataType::kFloat32, core::Dims{1, n});
    auto f = folded->span<float>();
    for (int64_t j = 0; j < n; ++j) {
      const double b = p.bias != nullptr ? p.bias->span<float>()[j] / static_cast<double>(acc_scale[j]) : 0.0;
      f[j] = static_cast<float>(b - static_cast<double>(a.zero_point) * p.qweights.column_sums[j]);
    }
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_BIAS], r.weights.Get({folded, 0, bias_md, pd.bias_desc(), 0, {}}));
  } else if (p.bias != nullptr) {
    std::vector<float> bias_scale;
    for (float s : acc_scale) bias_scale.push_back(1.0f / s);
    const int bias_mask = bias_scale.size() > 1 ? 1 << (bias_md.dims().size() - 1) : 0;
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_BIAS],
                        r.weights.Get({p.bias, 0, bias_md, pd.bias_desc(), bias_mask, bias_scale}));
  }
  return std::make_unique<Kernel>(dnnl::matmul(pd), pd, std::move(inputs), std::vector<Operand>{{DNNL_ARG_DST, y_md}},
                                  std::move(constants));
}

}  // namespace q8::kernels::internal

namespace q8::kernels {

std::vector<int32_t> MatMulColumnSums(const core::Tensor& s8_kn) {
  const int64_t k = s8_kn.dims()[0], n = s8_kn.dims()[1];
  std::vector<int32_t> sums(n, 0);
  auto q = s8_kn.span<int8_t>();
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j) sums[j] += q[i * n + j];
  }
  return sums;
}

}  // namespace q8::kernels
