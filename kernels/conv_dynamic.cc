// Owns the dynamic-quantization convolution (ConvParams::dynamic): input and
// output are f32, weights are the engine's per-OC symmetric s8 `qweights`,
// and the input is quantized per Run from its own range.
//
// What oneDNN 2.6.3 offers (measured on AVX512-VNNI, bench: kernels_int8_bench
// "dynamic conv" section; table in BENCHMARKS.md):
//  - runtime output scales (set_output_scales(mask, {DNNL_RUNTIME_F32_VAL})):
//    no convolution implementation accepts them for u8/s8 src, f32 NHWC dst,
//    with or without post-ops, per-tensor or per-OC (primitive descriptor
//    creation fails: not even a reference kernel). So s_x cannot travel as an
//    output scale.
//  - runtime src zero points (set_zero_points(DNNL_ARG_SRC, 0,
//    {DNNL_RUNTIME_S32_VAL})): accepted by jit_int8 (jit_avx512_core_x8s8s32x:
//    3x3, 7x7, depthwise) and brgconv_1x1; brgconv takes them only when the
//    conv does not pad, so a padded 3x3/7x7 conv moves from brgconv to
//    jit_int8: -30 % (small convs) to +25 % (the 7x7 stem) on this CPU, and
//    it would lose AMX, which only brgconv uses.
//  - a binary_mul post-op whose src1 is a [1,1,1,1] f32 memory passed at
//    execute time keeps brgconv / brgconv_1x1 / brdgmm_dw and costs 0-9 %.
//  - no implementation on these paths contains "ref" (dynamic_conv_test).
// So one primitive per conv, built at load:
//   src u8 with a runtime per-tensor zero point, static output scales s_w[oc],
//   bias = b[oc] / (s_w[oc] * s_x) rewritten per Run (oneDNN adds the bias
//   before the output scales), post-ops: binary_mul by s_x (runtime scalar),
//   then the residual sum (scale 1, f32), then the activations, in real units.
// Per Run: (1) one vectorized pass for min/max of the input; (2) u8 grid over
// [min(lo,0), max(hi,0)] (ChooseU8); (3) quantize into the workspace
// scratchpad; (4) write s_x, the zero point and the bias into the scratchpad;
// (5) execute. Output: f32 (the next layer scans it again; requantizing into
// its grid in this kernel would need the next layer's range before it exists).
// Non-finite input: the range is taken over the finite elements, NaN
// quantizes to real 0 and +-inf saturate. No allocation per Run: everything
// per run lives in the workspace scratchpad after the primitive's own part.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/dynamic_quant.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Below this many elements the scan and quantize loops stay on the calling
// thread (an OpenMP fork costs a few microseconds).
constexpr int64_t kParallelElements = 1 << 16;
constexpr int kMaxChunks = 64;

int64_t Align64(int64_t bytes) { return (bytes + 63) / 64 * 64; }

// Runs body(begin, end) over [0, count) in up to IntraOpThreads() chunks.
template <typename Body>
int ForChunks(int64_t count, Body&& body) {
  const int chunks = count < kParallelElements ? 1 : std::clamp(omp_get_max_threads(), 1, kMaxChunks);
  if (chunks == 1) {
    body(0, 0, count);
    return 1;
  }
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
  for (int c = 0; c < chunks; ++c) body(c, count * c / chunks, count * (c + 1) / chunks);
  return chunks;
}

MinMax ParallelMinMax(const float* x, int64_t count) {
  MinMax parts[kMaxChunks];
  const int n = ForChunks(count, [&](int c, int64_t b, int64_t e) { parts[c] = ScanMinMax(x + b, e - b); });
  MinMax r = parts[0];
  for (int c = 1; c < n; ++c) {
    r.min = std::min(r.min, parts[c].min);
    r.max = std::max(r.max, parts[c].max);
    r.finite = r.finite && parts[c].finite;
  }
  return r;
}

class DynamicConv final : public Kernel {
 public:
  // Byte offsets inside the kernel's scratchpad.
  struct Layout {
    int64_t count = 0;  // input elements
    int64_t oc = 0;
    int64_t quantized = 0, bias = 0, scale = 0, zero_point = 0, total = 0;
  };

  DynamicConv(dnnl::convolution_forward primitive, const dnnl::convolution_forward::primitive_desc& pd,
              std::vector<Operand> inputs, std::vector<Operand> outputs, ArgMap constants,
              dnnl::memory::desc quantized_md, std::vector<float> bias_over_sw, Layout layout)
      : Kernel(primitive, pd, std::move(inputs), std::move(outputs)),
        primitive_(std::move(primitive)),
        primitive_scratchpad_(pd.scratchpad_desc()),
        constants_(std::move(constants)),
        quantized_md_(quantized_md),
        bias_over_sw_(std::move(bias_over_sw)),
        layout_(layout) {
    set_impl(absl::StrCat("dynamic_quant+", pd.impl_info_str()));
    set_scratchpad_desc(PlainDesc({layout_.total}, dt::u8));
  }

  // extra = {input (f32), scratchpad, then the memories c_args points at}.
  BoundArgs Bind(absl::Span<const dnnl::memory> inputs, absl::Span<const dnnl::memory> outputs,
                 const dnnl::memory& scratchpad) const override {
    BoundArgs bound;
    bound.extra = {inputs[0], scratchpad};
    char* base = static_cast<char*>(scratchpad.get_data_handle());
    const dnnl::engine& engine = CpuEngine();
    ArgMap args = constants_;
    args[DNNL_ARG_SRC] = dnnl::memory(quantized_md_, engine, base + layout_.quantized);
    args[DNNL_ARG_DST] = outputs[0];
    if (!bias_over_sw_.empty()) {
      args[DNNL_ARG_BIAS] = dnnl::memory(PlainDesc({layout_.oc}, dt::f32), engine, base + layout_.bias);
    }
    args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] =
        dnnl::memory(PlainDesc({1, 1, 1, 1}, dt::f32), engine, base + layout_.scale);
    args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] =
        dnnl::memory(PlainDesc({1}, dt::s32), engine, base + layout_.zero_point);
    if (primitive_scratchpad_.get_size() > 0) {
      args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(primitive_scratchpad_, engine, base);
    }
    for (const auto& [arg, memory] : args) {
      bound.c_args.push_back({arg, memory.get()});
      bound.extra.push_back(memory);
    }
    return bound;
  }

  void Execute(dnnl::stream& stream, const BoundArgs& args) const override {
    const float* x = static_cast<const float*>(args.extra[0].get_data_handle());
    char* base = static_cast<char*>(args.extra[1].get_data_handle());
    auto* q = reinterpret_cast<uint8_t*>(base + layout_.quantized);
    const int64_t count = layout_.count;
    MinMax range = ParallelMinMax(x, count);
    const bool finite = range.finite;
    if (!finite) range = ScanFiniteMinMax(x, count);
    const U8Quant u8 = ChooseU8(range.min, range.max);
    const float inv_scale = 1.0f / u8.scale;
    ForChunks(count, [&](int, int64_t b, int64_t e) {
      finite ? QuantizeFinite(x + b, e - b, inv_scale, u8.zero_point, 0, 255, q + b)
             : QuantizeAny(x + b, e - b, inv_scale, u8.zero_point, 0, 255, q + b);
    });
    *reinterpret_cast<float*>(base + layout_.scale) = u8.scale;
    *reinterpret_cast<int32_t*>(base + layout_.zero_point) = u8.zero_point;
    float* bias = reinterpret_cast<float*>(base + layout_.bias);
    for (size_t c = 0; c < bias_over_sw_.size(); ++c) bias[c] = bias_over_sw_[c] * inv_scale;
    ExecuteC(primitive_, stream, args.c_args);
  }

 private:
  dnnl::convolution_forward primitive_;
  dnnl::memory::desc primitive_scratchpad_;
  ArgMap constants_;  // weights
  dnnl::memory::desc quantized_md_;
  std::vector<float> bias_over_sw_;  // b[oc] / s_w[oc]; empty without bias
  Layout layout_;
};

}  // namespace

KernelOr CreateDynamicConv(const ConvParams& p, const KernelRequest& r, const core::Dims& w, bool accumulate) {
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  const int64_t g = p.groups, oc = w[0], ic = src.dims[1];
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc src_md, DescOf(src));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(dst));
  ValueSpec quantized = src;
  quantized.dtype = core::DataType::kUInt8;
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc quantized_md, DescOf(quantized));

  const dnnl::memory::dims w_dims =
      g == 1 ? dnnl::memory::dims{oc, ic, w[2], w[3]} : dnnl::memory::dims{g, oc / g, ic / g, w[2], w[3]};
  const dnnl::memory::desc w_user(w_dims, dt::s8, g == 1 ? tag::oihw : tag::goihw);
  const dnnl::memory::desc w_any(w_dims, dt::s8, tag::any);
  const dnnl::memory::desc bias_md = p.bias != nullptr ? PlainDesc({oc}, dt::f32) : dnnl::memory::desc();
  const dnnl::memory::dims dilation{p.dilations[0] - 1, p.dilations[1] - 1};
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                       quantized_md, w_any, bias_md, dst_md, p.strides, dilation, p.pads_begin,
                                       p.pads_end);
  dnnl::primitive_attr attr = MakeAttr();
  attr.set_output_scales(1 << 1, p.qweights.scales);
  attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
  dnnl::post_ops ops;
  ops.append_binary(dnnl::algorithm::binary_mul, PlainDesc({1, 1, 1, 1}, dt::f32));
  if (accumulate) ops.append_sum(1.0f);
  for (const Activation& a : p.post_ops) {
    for (const EltwiseStage& s : EltwiseStages(a)) ops.append_eltwise(1.0f, s.algorithm, s.alpha, s.beta);
  }
  attr.set_post_ops(ops);
  dnnl::convolution_forward::primitive_desc pd(desc, attr, CpuEngine());

  ArgMap constants;
  Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_WEIGHTS],
                      r.weights.Get({p.qweights.values, p.weights_id, w_user, pd.weights_desc(), 0, {}}));
  std::vector<float> bias_over_sw;
  if (p.bias != nullptr) {
    const auto b = p.bias->span<float>();
    for (int64_t c = 0; c < oc; ++c) bias_over_sw.push_back(b[c] / p.qweights.scales[c]);
  }
  DynamicConv::Layout layout;
  layout.count = core::NumElements(src.dims);
  layout.oc = oc;
  layout.quantized = Align64(static_cast<int64_t>(pd.scratchpad_desc().get_size()));
  layout.bias = Align64(layout.quantized + layout.count);
  layout.scale = Align64(layout.bias + oc * static_cast<int64_t>(sizeof(float)));
  layout.zero_point = layout.scale + 64;
  layout.total = layout.zero_point + 64;

  std::vector<Operand> inputs{{DNNL_ARG_SRC, src_md}};
  if (accumulate) {
    Q8_ASSIGN_OR_RETURN(dnnl::memory::desc res_md, DescOf(*r.inputs[1]));
    inputs.push_back({kArgNone, res_md});  // read by the sum post-op from dst
  }
  dnnl::convolution_forward primitive(pd);
  return std::make_unique<DynamicConv>(std::move(primitive), pd, std::move(inputs),
                                       std::vector<Operand>{{DNNL_ARG_DST, dst_md}}, std::move(constants), quantized_md,
                                       std::move(bias_over_sw), layout);
}

}  // namespace q8::kernels::internal
