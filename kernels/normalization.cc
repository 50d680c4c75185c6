// Owns the normalization kernels that compute their statistics per run:
// LayerNormalization (oneDNN layer_normalization over the input viewed as
// [rows, normalized extent]; with a u8/s8 output our own kernel in
// layer_norm_quantize.cc), InstanceNormalization (oneDNN
// batch_normalization over [N, C, ...] viewed as [1, N*C, spatial], which makes
// every (n, c) its own channel; scale/shift are repeated N times when the
// step is built, or per Run into the scratchpad when a request sends them,
// see StagedKernel) and LRN (lrn_across_channels).
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/staged_kernel.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {
namespace {

using dt = dnnl::memory::data_type;

absl::Status SameF32(const KernelRequest& r, bool plain) {
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  if (src.dtype != core::DataType::kFloat32 || dst.dtype != core::DataType::kFloat32) {
    return Invalid(r, "only f32 is supported");
  }
  if (src.dims != dst.dims || src.layout != dst.layout) return Invalid(r, "input and output must match");
  if (plain && src.layout != Layout::kPlain) return Invalid(r, "needs plain layout");
  return absl::OkStatus();
}

// A kernel-owned f32 vector as oneDNN memory (built once per step).
dnnl::memory OwnedVector(const std::vector<float>& values) {
  const dnnl::memory::desc md = PlainDesc({static_cast<int64_t>(values.size())}, dt::f32);
  dnnl::memory m(md, CpuEngine());
  std::copy(values.begin(), values.end(), static_cast<float*>(m.get_data_handle()));
  return m;
}

}  // namespace

KernelOr Create(const LayerNormParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  const bool int8_out = IsInt8(r.outputs[0]->dtype);
  if (!int8_out) {
    Q8_RETURN_IF_ERROR(SameF32(r, true));
  }
  const core::Dims& dims = r.inputs[0]->dims;
  if (p.axis < 0 || p.axis >= static_cast<int>(dims.size())) return Invalid(r, "axis out of range");
  int64_t rows = 1, cols = 1;
  for (int i = 0; i < static_cast<int>(dims.size()); ++i) (i < p.axis ? rows : cols) *= dims[i];
  auto check = [&](const ConstTensorPtr& t) {
    return t->dtype() == core::DataType::kFloat32 && t->num_elements() == cols;
  };
  if (p.scale == nullptr || !check(p.scale) || (p.bias != nullptr && !check(p.bias))) {
    return Invalid(r, absl::StrCat("scale and bias must be f32 with ", cols, " elements"));
  }
  if (int8_out) return CreateQuantizingLayerNorm(p, r, rows, cols);  // layer_norm_quantize.cc
  const dnnl::memory::desc md = PlainDesc({rows, cols}, dt::f32);
  auto flags = dnnl::normalization_flags::use_scale;
  if (p.bias != nullptr) flags |= dnnl::normalization_flags::use_shift;
  dnnl::layer_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, md, p.epsilon, flags);
  dnnl::layer_normalization_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
  const dnnl::memory::desc c_md = PlainDesc({cols}, dt::f32);
  // Scale/bias of any dims are read as their `cols` values in order.
  ArgMap constants;
  Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_SCALE], r.weights.Get(p.scale, c_md, c_md));
  if (p.bias != nullptr) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_SHIFT], r.weights.Get(p.bias, c_md, c_md));
  }
  return std::make_unique<Kernel>(dnnl::layer_normalization_forward(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, md}},
                                  std::vector<Operand>{{DNNL_ARG_DST, md}}, std::move(constants));
}

KernelOr Create(const InstanceNormParams& p, const KernelRequest& r) {
  const size_t runtime = (p.scale == nullptr ? 1 : 0) + (p.bias == nullptr ? 1 : 0);
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1 + runtime, 1));
  Q8_RETURN_IF_ERROR(SameF32(r, true));
  const core::Dims& dims = r.inputs[0]->dims;
  if (dims.size() < 3) return Invalid(r, "input must be [N, C, D1, ...]");
  const int64_t n = dims[0], c = dims[1];
  const int64_t spatial = core::NumElements(dims) / (n * c);
  for (size_t i = 0, next = 1; i < 2; ++i) {
    const ConstTensorPtr& t = i == 0 ? p.scale : p.bias;
    const bool ok = t != nullptr ? t->dtype() == core::DataType::kFloat32 && t->num_elements() == c
                                 : r.inputs[next]->dtype == core::DataType::kFloat32 &&
                                       core::NumElements(r.inputs[next]->dims) == c;
    if (t == nullptr) ++next;
    if (!ok) return Invalid(r, absl::StrCat("scale and bias must be f32 [", c, "]"));
  }
  // 4-D: the optimized (ncsp) batch norm wants at least one more spatial dim than 3-D gives.
  const dnnl::memory::desc md = PlainDesc({1, n * c, spatial, 1}, dt::f32);
  const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, md, p.epsilon, flags);
  dnnl::batch_normalization_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
  // Every (n, c) is a channel of its own: scale and shift repeat per batch entry.
  auto repeat = [n, c](const float* from, float* to) {
    for (int64_t i = 0; i < n * c; ++i) to[i] = from[i % c];
  };
  ArgMap constants;
  std::vector<Operand> inputs{{DNNL_ARG_SRC, md}};
  std::vector<StagedKernel::Stage> stages;
  const dnnl::memory::desc nc_md = PlainDesc({n * c}, dt::f32);
  for (size_t i = 0; i < 2; ++i) {
    const ConstTensorPtr& t = i == 0 ? p.scale : p.bias;
    const int arg = i == 0 ? DNNL_ARG_SCALE : DNNL_ARG_SHIFT;
    if (t != nullptr) {
      std::vector<float> full(n * c);
      repeat(t->span<float>().data(), full.data());
      constants[arg] = OwnedVector(full);
      continue;
    }
    stages.push_back({static_cast<int>(inputs.size()), arg, nc_md, [repeat](const void* from, void* to) {
                        repeat(static_cast<const float*>(from), static_cast<float*>(to));
                      }});
    inputs.push_back({kArgNone, PlainDesc({c}, dt::f32)});
  }
  std::vector<Operand> outputs{{DNNL_ARG_DST, md}};
  return StagedKernel::Make(dnnl::batch_normalization_forward(pd), pd, std::move(inputs), std::move(outputs),
                            std::move(constants), std::move(stages));
}

KernelOr Create(const LrnParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  Q8_RETURN_IF_ERROR(SameF32(r, false));
  if (r.inputs[0]->dims.size() < 3) return Invalid(r, "input must be [N, C, D1, ...]");
  if (p.size < 1) return Invalid(r, "size must be positive");
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc md, DescOf(*r.inputs[0]));
  dnnl::lrn_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::lrn_across_channels, md, p.size,
                               p.alpha, p.beta, p.bias);
  dnnl::lrn_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
  return std::make_unique<Kernel>(dnnl::lrn_forward(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, md}},
                                  std::vector<Operand>{{DNNL_ARG_DST, md}});
}

}  // namespace q8::kernels::internal
