// Owns the Reduction kernel (ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare,
// LogSum as sum with a log post-op) on
// oneDNN's reduction primitive. The output is described with the input's
// rank and 1 on reduced axes: with plain layout those are the same bytes as
// the engine's keepdims=0 dims. A reduction over extents that are all 1
// changes no value's position, so it runs as the matching eltwise instead
// (oneDNN requires src and dst dims to differ). Where oneDNN 2.6 has only
// its reference implementation (e.g. a mean over the middle axis of
// [1, tokens, features], a ViT's pooling), sum/mean/max/min over one
// contiguous block of axes run as a plain loop instead (impl "q8:cpp"), so no
// hot path runs `ref`.
#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
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

// dst[o, i] = reduce over r of src[o, r, i]: the inner loop runs over i, so
// the compiler vectorizes it and the reads stay sequential.
class AxisBlockReduction final : public PlainFloatKernel {
 public:
  AxisBlockReduction(ReductionParams::Kind kind, int64_t outer, int64_t reduced, int64_t inner,
                     std::vector<Operand> inputs, std::vector<Operand> outputs)
      : PlainFloatKernel(std::move(inputs), std::move(outputs)),
        kind_(kind),
        outer_(outer),
        reduced_(reduced),
        inner_(inner) {}

  void Compute(const float* src, float* dst) const override {
    using K = ReductionParams::Kind;
    for (int64_t o = 0; o < outer_; ++o) {
      float* d = dst + o * inner_;
      const float* s = src + o * reduced_ * inner_;
      std::copy(s, s + inner_, d);
      for (int64_t k = 1; k < reduced_; ++k) {
        const float* row = s + k * inner_;
        switch (kind_) {
          case K::kMax:
            for (int64_t i = 0; i < inner_; ++i) d[i] = std::max(d[i], row[i]);
            break;
          case K::kMin:
            for (int64_t i = 0; i < inner_; ++i) d[i] = std::min(d[i], row[i]);
            break;
          default:
            for (int64_t i = 0; i < inner_; ++i) d[i] += row[i];
        }
      }
      if (kind_ == K::kMean) {
        const float scale = 1.0f / static_cast<float>(reduced_);
        for (int64_t i = 0; i < inner_; ++i) d[i] *= scale;
      }
    }
  }

 private:
  ReductionParams::Kind kind_;
  int64_t outer_, reduced_, inner_;
};

// The [outer, reduced, inner] split when the reduced axes (ignoring extents
// of 1) form one contiguous block; nullopt otherwise.
std::optional<std::array<int64_t, 3>> AxisBlock(const core::Dims& dims, const std::vector<int64_t>& axes) {
  std::vector<bool> reduced(dims.size(), false);
  for (int64_t a : axes) reduced[a] = true;
  int first = -1, last = -1;
  for (int d = 0; d < static_cast<int>(dims.size()); ++d) {
    if (reduced[d] && dims[d] != 1) {
      if (first < 0) first = d;
      last = d;
    }
  }
  if (first < 0) return std::nullopt;
  std::array<int64_t, 3> block{1, 1, 1};
  for (int d = 0; d < static_cast<int>(dims.size()); ++d) {
    if (d >= first && d <= last && !reduced[d] && dims[d] != 1) return std::nullopt;
    block[d < first ? 0 : d <= last ? 1 : 2] *= dims[d];
  }
  return block;
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
  using K = ReductionParams::Kind;
  if (absl::StartsWith(pd.impl_info_str(), "ref") &&
      (p.kind == K::kSum || p.kind == K::kMean || p.kind == K::kMax || p.kind == K::kMin)) {
    if (auto block = AxisBlock(src.dims, p.axes)) {
      return std::make_unique<AxisBlockReduction>(p.kind, (*block)[0], (*block)[1], (*block)[2],
                                                  std::vector<Operand>{{kArgNone, src_md}},
                                                  std::vector<Operand>{{kArgNone, dst_md}});
    }
  }
  return std::make_unique<Kernel>(dnnl::reduction(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, src_md}},
                                  std::vector<Operand>{{DNNL_ARG_DST, dst_md}});
}

}  // namespace q8::kernels::internal
