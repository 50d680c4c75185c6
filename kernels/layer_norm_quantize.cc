// Owns LayerNormalization with a u8/s8 output: the normalization and the
// quantization of its result in one pass over each row, in plain C++.
// oneDNN 2.6's layer_normalization has no int8 dst with an output scale, so
// an int8 consumer (a transformer's Q/K/V or FFN-up MatMul) would otherwise
// cost a separate f32 -> int8 Reorder after every LayerNorm; at small model
// sizes that Reorder is as long as the LayerNorm itself.
// Per row of `cols` values: mean, then the variance around it (two passes,
// as oneDNN does), y = (x - mean) / sqrt(var + eps) * gamma + beta, and
// q = saturate(round_half_even(y / s_y)). The row's y lives in the scratchpad
// and is quantized by the shared conversion loop (dynamic_quant.h). The sums
// run over 16 partial accumulators so that GCC vectorizes them without
// -ffast-math (a single float accumulator must stay a sequential chain).
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/dynamic_quant.h"

namespace q8::kernels::internal {
namespace {

using dt = dnnl::memory::data_type;
constexpr int kLanes = 16;

// Sum of f(x[i]) over i < n, in kLanes partial sums.
template <typename F>
float LaneSum(const float* x, int64_t n, F f) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) acc[l] += f(x[i + l]);
  }
  float total = 0.0f;
  for (; i < n; ++i) total += f(x[i]);
  for (float a : acc) total += a;
  return total;
}

class QuantizingLayerNorm final : public Kernel {
 public:
  QuantizingLayerNorm(std::vector<Operand> inputs, std::vector<Operand> outputs, int64_t rows, int64_t cols,
                      std::vector<float> gamma, std::vector<float> beta, float epsilon, float dst_scale, bool u8)
      : Kernel("q8:cpp:layer_norm_quantize", std::move(inputs), std::move(outputs)),
        rows_(rows),
        cols_(cols),
        gamma_(std::move(gamma)),
        beta_(std::move(beta)),
        epsilon_(epsilon),
        inv_scale_(1.0f / dst_scale),
        u8_(u8) {
    set_scratchpad_desc(PlainDesc({cols_}, dt::f32));
    // |(x - mean) / sd| <= sqrt(cols) for any finite row, so |y| is bounded
    // by the constants: the fast conversion (exact below 2^22) is safe
    // whenever that bound, in steps of s_y, stays below it.
    float bound = 0.0f;
    for (int64_t j = 0; j < cols_; ++j) {
      bound = std::max(bound, std::sqrt(static_cast<float>(cols_)) * std::fabs(gamma_[j]) +
                                  (beta_.empty() ? 0.0f : std::fabs(beta_[j])));
    }
    fast_ = std::isfinite(bound) && bound * inv_scale_ < 4.0e6f;
  }

  BoundArgs Bind(absl::Span<const dnnl::memory> inputs, absl::Span<const dnnl::memory> outputs,
                 const dnnl::memory& scratchpad) const override {
    BoundArgs bound;
    bound.extra = {inputs[0], outputs[0], scratchpad};
    return bound;
  }

  void Execute(dnnl::stream&, const BoundArgs& args) const override {
    const float* x = static_cast<const float*>(args.extra[0].get_data_handle());
    auto* out = static_cast<char*>(args.extra[1].get_data_handle());
    float* y = static_cast<float*>(args.extra[2].get_data_handle());
    const int64_t n = cols_;
    const float inv_n = 1.0f / static_cast<float>(n);
    for (int64_t r = 0; r < rows_; ++r) {
      const float* row = x + r * n;
      const float mean = LaneSum(row, n, [](float v) { return v; }) * inv_n;
      const float var = LaneSum(row, n, [mean](float v) { return (v - mean) * (v - mean); }) * inv_n;
      const float rstd = 1.0f / std::sqrt(var + epsilon_);
      if (beta_.empty()) {
        for (int64_t j = 0; j < n; ++j) y[j] = (row[j] - mean) * rstd * gamma_[j];
      } else {
        for (int64_t j = 0; j < n; ++j) y[j] = (row[j] - mean) * rstd * gamma_[j] + beta_[j];
      }
      // A non-finite row (inf/NaN input, or sums that overflowed) takes the
      // conversion that is defined for any float.
      const bool finite = fast_ && std::isfinite(mean) && std::isfinite(rstd);
      if (u8_) {
        auto* q = reinterpret_cast<uint8_t*>(out) + r * n;
        finite ? QuantizeFinite(y, n, inv_scale_, 0, 0, 255, q) : QuantizeAny(y, n, inv_scale_, 0, 0, 255, q);
      } else {
        auto* q = reinterpret_cast<int8_t*>(out) + r * n;
        finite ? QuantizeFinite(y, n, inv_scale_, 0, -128, 127, q) : QuantizeAny(y, n, inv_scale_, 0, -128, 127, q);
      }
    }
  }

 private:
  int64_t rows_, cols_;
  std::vector<float> gamma_, beta_;  // [cols]; beta empty when absent
  float epsilon_, inv_scale_;
  bool u8_;
  bool fast_ = false;
};

}  // namespace

KernelOr CreateQuantizingLayerNorm(const LayerNormParams& p, const KernelRequest& r, int64_t rows, int64_t cols) {
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  if (src.dtype != core::DataType::kFloat32 || !IsInt8(dst.dtype)) {
    return Invalid(r, "an int8 LayerNormalization reads f32 and writes u8 or s8");
  }
  if (src.layout != Layout::kPlain || dst.layout != Layout::kPlain || src.dims != dst.dims) {
    return Invalid(r, "input and output must be plain with equal dims");
  }
  if (!ValidScale(dst.scale)) return Invalid(r, "output scale must be finite and > 0");
  const auto values = [](const ConstTensorPtr& t) {
    return t == nullptr ? std::vector<float>{} : std::vector<float>(t->span<float>().begin(), t->span<float>().end());
  };
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc src_md, DescOf(src));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(dst));
  return std::make_unique<QuantizingLayerNorm>(
      std::vector<Operand>{{kArgNone, src_md}}, std::vector<Operand>{{kArgNone, dst_md}}, rows, cols, values(p.scale),
      values(p.bias), p.epsilon, dst.scale, dst.dtype == core::DataType::kUInt8);
}

}  // namespace q8::kernels::internal
