// Owns the dynamic-quantization MatMul (MatMulParams::dynamic): A is f32 and
// is quantized per Run from its observed range, B is constant `qweights`
// (s8 [K,N], per-N scales). oneDNN 2.6 fixes output scales at primitive
// creation (runtime scales exist only on the slower gemm:jit matmul), so:
//   1. one pass over A: max|a| and whether any a < 0;
//   2. quantize A into the workspace scratchpad: u8 with s_a = max/255 when
//      A >= 0, else s8 with s_a = max/127 (nearest-even, saturated);
//   3. run the matching brgemm int8 matmul (two primitives built at creation,
//      u8 and s8 src), dst f32 with static output scales alpha * s_w[n];
//   4. fused epilogue over Y: y = s_a * y + bias[n], then the activations.
//      With `accumulate` (a fused residual, already in Y's bytes) the
//      primitive writes into the scratchpad instead and the epilogue adds:
//      y = y + s_a * t + bias[n], then the activations.
// No allocation per Run: the quantized A lives in the workspace scratchpad,
// after the primitives' own scratchpad. Both primitives share one weights
// copy when their layouts agree (the s8 one may append compensation).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/dynamic_quant.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {
namespace {

using dt = dnnl::memory::data_type;

float Activate(const Activation& a, float v) {
  switch (a.kind) {
    case Activation::Kind::kRelu:
      return std::max(v, 0.0f);
    case Activation::Kind::kClip:
      return std::min(std::max(v, a.lo), a.hi);
    case Activation::Kind::kSigmoid:
      return 1.0f / (1.0f + std::exp(-v));
    case Activation::Kind::kGeluErf:
      return 0.5f * v * (1.0f + std::erf(v * 0.70710678f));
    case Activation::Kind::kGeluTanh:
      return 0.5f * v * (1.0f + std::tanh(0.79788456f * (v + 0.044715f * v * v * v)));
    default:  // fuse_activation fuses only the five kinds above
      break;
  }
  return v;
}

class DynamicMatMul final : public Kernel {
 public:
  struct Variant {
    dnnl::primitive primitive;
    dnnl::memory::desc src;         // quantized A, u8 or s8 [rows, K]
    dnnl::memory::desc scratchpad;  // the primitive's own
    ArgMap constants;               // weights
  };
  struct Shape {
    int64_t rows = 0, k = 0, n = 0;
    int64_t quantized_offset = 0;  // of quantized A in the scratchpad
    int64_t result_offset = -1;    // of the f32 product when accumulating, else -1
  };

  DynamicMatMul(Variant s8, Variant u8, const dnnl::primitive_desc_base& pd, std::vector<Operand> inputs,
                std::vector<Operand> outputs, Shape shape, dnnl::memory bias, std::vector<Activation> activations,
                std::string impl)
      : Kernel(s8.primitive, pd, std::move(inputs), std::move(outputs)),
        s8_(std::move(s8)),
        u8_(std::move(u8)),
        shape_(shape),
        bias_(std::move(bias)),
        activations_(std::move(activations)) {
    set_impl(std::move(impl));
    const int64_t end = shape_.result_offset >= 0 ? shape_.result_offset + shape_.rows * shape_.n * 4
                                                  : shape_.quantized_offset + shape_.rows * shape_.k;
    set_scratchpad_desc(PlainDesc({end}, dt::u8));
  }

  // extra = {A (f32, caller/arena), Y, scratchpad, then the memories the
  // two argument arrays point at}; c_args: s8 variant, c_args_alt: u8.
  BoundArgs Bind(absl::Span<const dnnl::memory> inputs, absl::Span<const dnnl::memory> outputs,
                 const dnnl::memory& scratchpad) const override {
    BoundArgs bound;
    bound.extra = {inputs[0], outputs[0], scratchpad};
    char* base = static_cast<char*>(scratchpad.get_data_handle());
    auto bind = [&](const Variant& v, std::vector<dnnl_exec_arg_t>& c_args) {
      ArgMap args = v.constants;
      args[DNNL_ARG_SRC] = dnnl::memory(v.src, CpuEngine(), base + shape_.quantized_offset);
      args[DNNL_ARG_DST] = shape_.result_offset < 0 ? outputs[0]
                                                    : dnnl::memory(PlainDesc({shape_.rows, shape_.n}, dt::f32),
                                                                   CpuEngine(), base + shape_.result_offset);
      if (v.scratchpad.get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(v.scratchpad, CpuEngine(), base);
      for (const auto& [arg, memory] : args) {
        c_args.push_back({arg, memory.get()});
        bound.extra.push_back(memory);
      }
    };
    bind(s8_, bound.c_args);
    bind(u8_, bound.c_args_alt);
    return bound;
  }

  void Execute(dnnl::stream& stream, const BoundArgs& args) const override {
    const float* a = static_cast<const float*>(args.extra[0].get_data_handle());
    float* y = static_cast<float*>(args.extra[1].get_data_handle());
    char* quantized = static_cast<char*>(args.extra[2].get_data_handle()) + shape_.quantized_offset;
    const int64_t count = shape_.rows * shape_.k;
    const AbsRange range = ScanAbs(a, count);
    const bool use_u8 = !range.negative;
    const float qmax = use_u8 ? 255.0f : 127.0f;
    const bool finite = std::isfinite(range.max_abs);  // the magnitude-bits max also catches NaN
    // All zeros: any scale gives q = 0. Non-finite input: garbage in, but no UB.
    const float scale = range.max_abs > 0.0f && finite ? range.max_abs / qmax : 1.0f;
    auto* u8 = reinterpret_cast<uint8_t*>(quantized);
    auto* s8 = reinterpret_cast<int8_t*>(quantized);
    if (finite) {
      use_u8 ? QuantizeFinite(a, count, 1.0f / scale, 0, 0, 255, u8)
             : QuantizeFinite(a, count, 1.0f / scale, 0, -128, 127, s8);
    } else {
      use_u8 ? QuantizeAny(a, count, 1.0f, 0, 0, 255, u8) : QuantizeAny(a, count, 1.0f, 0, -128, 127, s8);
    }
    const Variant& v = use_u8 ? u8_ : s8_;
    ExecuteC(v.primitive, stream, use_u8 ? args.c_args_alt : args.c_args);
    stream.wait();
    const float* product = shape_.result_offset < 0
                               ? nullptr
                               : reinterpret_cast<const float*>(static_cast<char*>(args.extra[2].get_data_handle()) +
                                                                shape_.result_offset);
    Epilogue(y, scale, product);
  }

 private:
  // `product`: the unscaled matmul result when it is not in y (accumulate).
  void Epilogue(float* y, float scale, const float* product) const {
    const int64_t n = shape_.n;
    const float* bias = bias_ ? static_cast<const float*>(bias_.get_data_handle()) : nullptr;
    for (int64_t i = 0; i < shape_.rows; ++i) {
      float* row = y + i * n;
      if (product != nullptr) {
        const float* t = product + i * n;
        if (bias != nullptr) {
          for (int64_t j = 0; j < n; ++j) row[j] += t[j] * scale + bias[j];
        } else {
          for (int64_t j = 0; j < n; ++j) row[j] += t[j] * scale;
        }
      } else if (bias != nullptr) {
        for (int64_t j = 0; j < n; ++j) row[j] = row[j] * scale + bias[j];
      } else {
        for (int64_t j = 0; j < n; ++j) row[j] *= scale;
      }
      for (const Activation& act : activations_) {
        for (int64_t j = 0; j < n; ++j) row[j] = Activate(act, row[j]);
      }
    }
  }

  Variant s8_, u8_;
  Shape shape_;
  dnnl::memory bias_;  // f32 [N] real units, owned by the WeightCache
  std::vector<Activation> activations_;
};

}  // namespace

KernelOr CreateDynamicMatMul(const MatMulParams& p, const KernelRequest& r, const core::Dims& b_dims) {
  const ValueSpec& a = *r.inputs[0];
  const ValueSpec& y = *r.outputs[0];
  const int64_t k = b_dims[0], n = b_dims[1];
  if (a.dims.back() != k) return Invalid(r, absl::StrCat("inner dims differ: A has K=", a.dims.back(), ", B has ", k));
  core::Dims expected = a.dims;
  expected.back() = n;
  if (y.dims != expected) return Invalid(r, absl::StrCat("output must be ", core::DimsToString(expected)));
  if (p.bias != nullptr && (p.bias->dims() != core::Dims{n} || p.bias->dtype() != core::DataType::kFloat32)) {
    return Invalid(r, absl::StrCat("bias must be f32 [", n, "]"));
  }
  if (p.qweights.scales.size() != static_cast<size_t>(n)) {
    return Invalid(r, absl::StrCat("qweights.scales must have ", n, " values"));
  }
  for (float s : p.qweights.scales) {
    if (!ValidScale(s)) return Invalid(r, "qweights.scales must be finite and > 0");
  }
  if (p.alpha == 0.0f) return absl::UnimplementedError(absl::StrCat(StepContext(r), ": alpha = 0"));

  const int64_t rows = core::NumElements(a.dims) / k;
  const dnnl::memory::desc a_md = PlainDesc({rows, k}, dt::f32), y_md = PlainDesc({rows, n}, dt::f32);
  const dnnl::memory::desc b_any({k, n}, dt::s8, dnnl::memory::format_tag::any);
  std::vector<float> oscale(n);
  for (int64_t j = 0; j < n; ++j) oscale[j] = p.alpha * p.qweights.scales[j];
  dnnl::primitive_attr attr = MakeAttr();
  attr.set_output_scales(1 << 1, oscale);

  auto build = [&](dt src_dt) -> absl::StatusOr<std::pair<DynamicMatMul::Variant, dnnl::matmul::primitive_desc>> {
    const dnnl::memory::desc src = PlainDesc({rows, k}, src_dt);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, b_any, y_md), attr, CpuEngine());
    DynamicMatMul::Variant v{dnnl::matmul(pd), src, pd.scratchpad_desc(), {}};
    Q8_ASSIGN_OR_RETURN(
        v.constants[DNNL_ARG_WEIGHTS],
        r.weights.Get({p.qweights.values, p.weights_id, PlainDesc({k, n}, dt::s8), pd.weights_desc(), 0, {}}));
    return std::make_pair(std::move(v), std::move(pd));
  };
  // s8 first: its weights may carry compensation, and the u8 variant can
  // then view the same bytes.
  Q8_ASSIGN_OR_RETURN(auto s8, build(dt::s8));
  Q8_ASSIGN_OR_RETURN(auto u8, build(dt::u8));
  dnnl::memory bias;
  if (p.bias != nullptr) {
    const dnnl::memory::desc bias_md = PlainDesc({n}, dt::f32);
    Q8_ASSIGN_OR_RETURN(bias, r.weights.Get(p.bias, bias_md, bias_md));
  }
  DynamicMatMul::Shape shape{rows, k, n, 0};
  const int64_t primitive_scratch = std::max<int64_t>(s8.first.scratchpad.get_size(), u8.first.scratchpad.get_size());
  shape.quantized_offset = (primitive_scratch + 63) / 64 * 64;
  if (p.accumulate) shape.result_offset = (shape.quantized_offset + rows * k + 63) / 64 * 64;
  std::string impl = absl::StrCat("dynamic_quant+", s8.second.impl_info_str());
  if (u8.second.impl_info_str() != s8.second.impl_info_str()) absl::StrAppend(&impl, "|", u8.second.impl_info_str());
  std::vector<Operand> inputs{{DNNL_ARG_SRC, a_md}};
  if (p.accumulate) inputs.push_back({kArgNone, y_md});  // the residual, in Y's bytes
  return std::make_unique<DynamicMatMul>(std::move(s8.first), std::move(u8.first), s8.second, std::move(inputs),
                                         std::vector<Operand>{{DNNL_ARG_DST, y_md}}, shape, std::move(bias), p.post_ops,
                                         std::move(impl));
}

}  // namespace q8::kernels::internal
