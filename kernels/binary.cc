// Owns the Binary kernel: out = in0 (op) in1 with in1 broadcast to in0,
// then fused activations (op: add, mul, sub, div, max, min, or a comparison
// writing 1/0). A constant in1 is copied once into WeightCache-owned
// memory (so it counts as model weights) in in0's layout: a src1 whose layout
// differs from src0 pushes oneDNN onto slower paths.
//
// int8: any mix of f32/u8/s8 inputs and output. oneDNN 2.6 binary scales
// its sources (dst = c0*src0 op c1*src1, one scale per input), then post-ops,
// then rounds and saturates into dst. With real = s*q and 1/s_out folded in
// (when the post-ops commute with it): add c0 = s0/s_out, c1 = s1/s_out; mul
// c0 = s0/s_out, c1 = s1. With a sigmoid post-op the sources stay real and the
// last post-op carries 1/s_out (MakeQuantizedPostOps).
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {
namespace {

dnnl::algorithm BinaryAlgorithm(BinaryParams::Kind kind) {
  using K = BinaryParams::Kind;
  using alg = dnnl::algorithm;
  switch (kind) {
    case K::kAdd:
      return alg::binary_add;
    case K::kMul:
      return alg::binary_mul;
    case K::kSub:
      return alg::binary_sub;
    case K::kDiv:
      return alg::binary_div;
    case K::kMax:
      return alg::binary_max;
    case K::kMin:
      return alg::binary_min;
    case K::kEqual:
      return alg::binary_eq;
    case K::kGreater:
      return alg::binary_gt;
    case K::kGreaterOrEqual:
      return alg::binary_ge;
    case K::kLess:
      return alg::binary_lt;
    case K::kLessOrEqual:
      return alg::binary_le;
  }
  return alg::binary_add;
}

}  // namespace

KernelOr Create(const BinaryParams& p, const KernelRequest& r) {
  const bool constant = p.constant != nullptr;
  Q8_RETURN_IF_ERROR(ExpectArity(r, constant ? 1 : 2, 1));
  const ValueSpec& in0 = *r.inputs[0];
  const ValueSpec& out = *r.outputs[0];
  if (out.dims != in0.dims) return Invalid(r, "output dims must equal input 0 dims");
  const core::Dims& d1 = constant ? p.constant->dims() : r.inputs[1]->dims;
  if (d1.size() > in0.dims.size()) return Invalid(r, "input 1 has a higher rank than input 0");
  // Broadcast by left-padding with 1s (ONNX), then size-1 dims stretch.
  core::Dims padded(in0.dims.size() - d1.size(), 1);
  padded.insert(padded.end(), d1.begin(), d1.end());
  for (size_t i = 0; i < padded.size(); ++i) {
    if (padded[i] != 1 && padded[i] != in0.dims[i]) {
      return Invalid(r, absl::StrCat("input 1 dims ", core::DimsToString(d1), " do not broadcast to input 0"));
    }
  }

  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc md0, DescOf(in0));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(out));
  Q8_ASSIGN_OR_RETURN(auto dt1, ToDnnl(constant ? p.constant->dtype() : r.inputs[1]->dtype));
  dnnl::memory::desc md1;
  if (constant) {
    md1 = in0.layout == Layout::kNhwc ? dnnl::memory::desc(padded, dt1, dnnl::memory::format_tag::acdb)
                                      : PlainDesc(padded, dt1);
  } else if (d1.size() == in0.dims.size()) {
    Q8_ASSIGN_OR_RETURN(md1, DescOf(*r.inputs[1]));
  } else if (r.inputs[1]->layout == Layout::kPlain) {
    md1 = PlainDesc(padded, dt1);  // leading 1s do not move any byte
  } else {
    return Invalid(r, "a lower-rank input 1 must be plain");
  }
  const bool add = p.kind == BinaryParams::Kind::kAdd;
  const dnnl::algorithm alg = BinaryAlgorithm(p.kind);
  std::vector<const ValueSpec*> values{&in0, &out};
  if (!constant) values.push_back(r.inputs[1]);
  bool int8 = false;
  for (const ValueSpec* v : values) {
    if (v->dtype != core::DataType::kFloat32 && !IsInt8(v->dtype)) return Invalid(r, "types must be f32, u8 or s8");
    if (IsInt8(v->dtype) && !ValidScale(v->scale)) return Invalid(r, "int8 scales must be finite and > 0");
    int8 |= IsInt8(v->dtype);
  }
  if (int8 && p.kind != BinaryParams::Kind::kAdd && p.kind != BinaryParams::Kind::kMul) {
    return Invalid(r, "int8 binary supports add and mul only");
  }
  dnnl::primitive_attr attr = MakeAttr();
  if (int8) {
    const QuantizedPostOps post = MakeQuantizedPostOps(p.post_ops, RealScale(out));
    const float s0 = RealScale(in0), s1 = constant ? 1.0f : RealScale(*r.inputs[1]);
    const float c0 = s0 * post.output_factor, c1 = add ? s1 * post.output_factor : s1;
    if (c0 != 1.0f) attr.set_scales(DNNL_ARG_SRC_0, 0, {c0});
    if (c1 != 1.0f) attr.set_scales(DNNL_ARG_SRC_1, 0, {c1});
    if (post.ops.len() > 0) attr.set_post_ops(post.ops);
  } else if (!p.post_ops.empty()) {
    attr.set_post_ops(MakePostOps(p.post_ops));
  }
  dnnl::binary::primitive_desc pd(dnnl::binary::desc(alg, md0, md1, dst_md), attr, CpuEngine());

  std::vector<Operand> inputs{{DNNL_ARG_SRC_0, md0}};
  ArgMap constants;
  if (constant) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_SRC_1], r.weights.Get(p.constant, PlainDesc(padded, dt1), md1));
  } else {
    inputs.push_back({DNNL_ARG_SRC_1, md1});
  }
  return std::make_unique<Kernel>(dnnl::binary(pd), pd, std::move(inputs), std::vector<Operand>{{DNNL_ARG_DST, dst_md}},
                                  std::move(constants));
}

}  // namespace q8::kernels::internal
