// Owns the Reduction kernel (ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare,
// LogSum as sum with a log post-op) on
// oneDNN's reduction primitive. The output is described with the input's
// rank and 1 on reduced axes: with plain layout those are the same bytes as
// the engine's keepdims=0 dims. A reduction over extents that are all 1
// changes no value's position, so it runs as the matching eltwise instead
// (oneDNN requires src and dst dims to differ).
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {
namespace {

struct Algo {
  dnnl::algorithm algorithm;
  float p = 0.0f;
};

Algo ReductionAlgorithm(ReductionParams::Kind kind) {
  using K = ReductionParams::Kind;
  using alg = dnnl::algorithm;
  switch (kind) {
    case K::kSum:
      return {alg::reduction_sum};
    case K::kMean:
      return {alg::reduction_mean};
    case K::kMax:
      return {alg::reduction_max};
    case K::kMin:
      return {alg::reduction_min};
    case K::kProd:
      return {alg::reduction_mul};
    case K::kL1:
      return {alg::reduction_norm_lp_sum, 1.0f};
    case K::kL2:
      return {alg::reduction_norm_lp_sum, 2.0f};
    case K::kSumSquare:
      return {alg::reduction_norm_lp_power_p_sum, 2.0f};
    case K::kLogSum:  // then a log post-op
      return {alg::reduction_sum};
  }
  return {alg::undef};
}

// What a reduction of single elements leaves of each value.
Activation SingleElement(ReductionParams::Kind kind) {
  using K = ReductionParams::Kind;
  Activation a{Activation::Kind::kLinear};
  a.alpha = 1.0f;
  if (kind == K::kL1 || kind == K::kL2) a = {Activation::Kind::kAbs};
  if (kind == K::kSumSquare) a = {Activation::Kind::kSquare};
  if (kind == K::kLogSum) a = {Activation::Kind::kLog};
  return a;
}

}  // namespace

KernelOr Create(const ReductionParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  if (src.dtype != core::DataType::kFloat32 || dst.dtype != core::DataType::kFloat32 || src.layout != Layout::kPlain ||
      dst.layout != Layout::kPlain) {
    return Invalid(r, "reductions need plain f32 values");
  }
  core::Dims kept = src.dims;
  bool reduces = false;
  for (int64_t axis : p.axes) {
    if (axis < 0 || axis >= static_cast<int64_t>(kept.size())) return Invalid(r, "axis out of range");
    reduces |= kept[axis] != 1;
    kept[axis] = 1;
  }
  if (core::NumElements(kept) != core::NumElements(dst.dims)) {
    return Invalid(r, absl::StrCat("output must hold ", core::DimsToString(kept), " elements"));
  }
  const Algo algo = ReductionAlgorithm(p.kind);
  if (algo.algorithm == dnnl::algorithm::undef) return Invalid(r, "reduction kind has no oneDNN algorithm");
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc src_md, DescOf(src));
  const dnnl::memory::desc dst_md = PlainDesc(kept, dnnl::memory::data_type::f32);
  if (!reduces) {
    const EltwiseStage s = EltwiseStages(SingleElement(p.kind))[0];
    dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, s.algorithm, src_md, s.alpha, s.beta);
    dnnl::eltwise_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
    return std::make_unique<Kernel>(dnnl::eltwise_forward(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, src_md}},
                                    std::vector<Operand>{{DNNL_ARG_DST, src_md}});
  }
  dnnl::reduction::desc desc(algo.algorithm, src_md, dst_md, algo.p, 0.0f);
  const Activation log{Activation::Kind::kLog};
  dnnl::reduction::primitive_desc pd(desc, p.kind == ReductionParams::Kind::kLogSum ? MakeAttr({&log, 1}) : MakeAttr(),
                                     CpuEngine());
  return std::make_unique<Kernel>(dnnl::reduction(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, src_md}},
                                  std::vector<Operand>{{DNNL_ARG_DST, dst_md}});
}

}  // namespace q8::kernels::internal
