// Scale selection, weight quantization and bias correction.
#include "engine/quant/quantizer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace q8::engine {
namespace {

// Union-find over values that must share one scale: a transparent op
// (pooling, Relu, Concat, reshapes) cannot requantize, so its inputs and
// output live on the same grid.
class ScaleGroups {
 public:
  explicit ScaleGroups(int n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), 0); }
  int Find(int v) { return parent_[v] == v ? v : parent_[v] = Find(parent_[v]); }
  void Union(int a, int b) { parent_[Find(a)] = Find(b); }

 private:
  std::vector<int> parent_;
};

bool SharesScale(const std::string& op, const Lowering& l) {
  return l.kind == Lowering::Kind::kAlias || KeepsInputScale(op);
}

const kernels::ConstTensorPtr* FloatWeights(const Lowering& l) {
  if (const auto* c = std::get_if<kernels::ConvParams>(&l.params)) return c->weights ? &c->weights : nullptr;
  if (const auto* m = std::get_if<kernels::MatMulParams>(&l.params)) return m->weights ? &m->weights : nullptr;
  return nullptr;
}

// Values that may be stored asymmetric (quantizer.h): every reader a
// quantizable MatMul/Gemm reading it as its activation, no Conv writing it,
// and a scale group of their own.
std::vector<bool> AsymmetricCandidates(const LoweredGraph& fp32, ScaleGroups& groups) {
  const Graph& g = *fp32.graph;
  std::vector<bool> ok(g.num_values(), true), read(g.num_values(), false);
  std::vector<bool> matmul_layer(g.nodes().size(), false);
  for (int i : QuantizableLayers(fp32)) {
    matmul_layer[i] = std::holds_alternative<kernels::MatMulParams>(fp32.lowerings[i].params);
  }
  std::vector<int> group_size(g.num_values(), 0);
  for (int v = 0; v < static_cast<int>(g.num_values()); ++v) ++group_size[groups.Find(v)];
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node& n = g.nodes()[i];
    const Lowering& l = fp32.lowerings[i];
    if (n.removed) continue;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const ValueId v = n.inputs[k];
      if (v == kNoValue) continue;
      read[v] = true;
      const bool activation = !l.runtime_inputs.empty() && static_cast<int>(k) == l.runtime_inputs[0];
      if (!matmul_layer[i] || !activation) ok[v] = false;
    }
    if (std::holds_alternative<kernels::ConvParams>(l.params)) {
      for (ValueId out : n.outputs) ok[out] = false;
    }
  }
  for (int v = 0; v < static_cast<int>(g.num_values()); ++v) {
    ok[v] = ok[v] && read[v] && group_size[groups.Find(v)] == 1;
  }
  return ok;
}

}  // namespace

std::optional<ActivationChoice> AsymmetricGrid(float min, float max, float t) {
  const float lo = std::max(min, -t), hi = std::min(max, t);
  if (!(lo < 0.0f && hi > 0.0f && t > 0.0f)) return std::nullopt;
  ActivationChoice c;
  c.scale = (hi - lo) / 255.0f;
  c.zero_point = static_cast<int32_t>(std::clamp(std::nearbyint(-lo / c.scale), 0.0f, 255.0f));
  c.gain_db = 20.0 * std::log10((static_cast<double>(t) / 127.0) / c.scale);
  return c;
}

QuantizedTensor QuantizeWeights(const core::Tensor& w, int axis, bool per_channel) {
  const core::Dims& d = w.dims();
  const int64_t channels = d[axis];
  std::vector<float> absmax(channels, 0.0f);
  auto src = w.span<float>();
  const int64_t inner = axis == 0 ? w.num_elements() / channels : 1;
  for (int64_t i = 0; i < w.num_elements(); ++i) {
    const int64_t ch = axis == 0 ? i / inner : i % channels;
    absmax[ch] = std::max(absmax[ch], std::abs(src[i]));
  }
  if (!per_channel) {
    const float m = *std::max_element(absmax.begin(), absmax.end());
    std::fill(absmax.begin(), absmax.end(), m);
  }
  QuantizedTensor q;
  for (float m : absmax) q.scales.push_back(m > 0 ? m / 127.0f : 1.0f);
  q.values = QuantizeWithScales(w, axis, q.scales);
  return q;
}

std::shared_ptr<core::Tensor> QuantizeWithScales(const core::Tensor& w, int axis, const std::vector<float>& scales) {
  const int64_t channels = w.dims()[axis];
  const int64_t inner = axis == 0 ? w.num_elements() / channels : 1;
  auto out = std::make_shared<core::Tensor>(core::DataType::kInt8, w.dims());
  auto src = w.span<float>();
  auto dst = out->span<int8_t>();
  for (int64_t i = 0; i < w.num_elements(); ++i) {
    const int64_t ch = axis == 0 ? i / inner : i % channels;
    const float q = std::nearbyint(src[i] / scales[ch]);  // default rounding mode: half to even
    dst[i] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
  }
  return out;
}

std::shared_ptr<core::Tensor> CorrectBias(const core::Tensor& w, const QuantizedTensor& q, int axis,
                                          const core::Tensor* bias, const std::vector<double>& input_mean,
                                          int64_t groups) {
  const core::Dims& d = w.dims();
  const int64_t out_ch = d[axis];
  auto corrected = std::make_shared<core::Tensor>(core::DataType::kFloat32, core::Dims{out_ch});
  auto b = corrected->span<float>();
  for (int64_t o = 0; o < out_ch; ++o) b[o] = bias != nullptr ? bias->span<float>()[o] : 0.0f;
  auto wf = w.span<float>();
  auto wq = q.values->span<int8_t>();
  if (axis == 0) {  // conv [OC, IC/g, KH, KW]
    const int64_t icg = d[1], spatial = w.num_elements() / (out_ch * icg);
    const int64_t oc_per_group = out_ch / groups;
    if (static_cast<int64_t>(input_mean.size()) != icg * groups) return corrected;
    for (int64_t o = 0; o < out_ch; ++o) {
      const int64_t g = o / oc_per_group;
      double err = 0;
      for (int64_t i = 0; i < icg; ++i) {
        double werr = 0;
        for (int64_t k = 0; k < spatial; ++k) {
          const int64_t idx = (o * icg + i) * spatial + k;
          werr += static_cast<double>(wq[idx]) * q.scales[o] - wf[idx];
        }
        err += werr * input_mean[g * icg + i];
      }
      b[o] = static_cast<float>(b[o] - err);
    }
  } else {  // matmul [K, N]
    const int64_t k_dim = d[0];
    if (static_cast<int64_t>(input_mean.size()) != k_dim) return corrected;
    for (int64_t n = 0; n < out_ch; ++n) {
      double err = 0;
      for (int64_t k = 0; k < k_dim; ++k) {
        const int64_t idx = k * out_ch + n;
        err += (static_cast<double>(wq[idx]) * q.scales[n] - wf[idx]) * input_mean[k];
      }
      b[n] = static_cast<float>(b[n] - err);
    }
  }
  return corrected;
}

float Threshold(const ValueStats& s, const QuantizationOptions& options, bool unsigned_range) {
  const float absmax = std::max(std::abs(s.min), std::abs(s.max));
  if (!s.histogram || options.method == CalibrationMethod::kMinMax) return absmax;
  const int levels = unsigned_range ? 255 : 127;
  switch (options.method) {
    case CalibrationMethod::kPercentile:
      return std::min(absmax, PercentileThreshold(*s.histogram, options.percentile));
    case CalibrationMethod::kEntropy:
      return std::min(absmax, EntropyThreshold(*s.histogram, levels));
    case CalibrationMethod::kMse:
      return std::min(absmax, MseThreshold(*s.histogram, levels));
    case CalibrationMethod::kMinMax:
      break;
  }
  return absmax;
}

// Depthwise convs (one input channel per group) gain nothing from int8 dot
// products (VNNI multiplies groups of 4 channels; oneDNN's int8 depthwise
// kernels measured 0.6x fp32 here) and then pay the per-run quantization
// pass on top: dynamic int8 measured 0.2-0.7x fp32 for MobileNetV2's
// depthwise 3x3. Every other conv measured faster in dynamic int8, down to
// the Fashion CNN's 1-channel first conv (1.2-1.3x alone, ~5 % on the whole
// model) and MobileNetV2's 144->24 projection (1.2x, where the scan is a
// quarter of the time). Measurements: BENCHMARKS.md, "Dynamic int8 Conv".
bool DynamicConvPays(const core::Dims& w, int64_t groups) { return w.size() == 4 && !(groups > 1 && w[1] == 1); }

std::vector<int> QuantizableLayers(const LoweredGraph& fp32) {
  std::vector<int> layers;
  for (size_t i = 0; i < fp32.lowerings.size(); ++i) {
    const kernels::ConstTensorPtr* w = FloatWeights(fp32.lowerings[i]);
    // 1-D and 3-D convs stay f32: oneDNN's int8 convs are optimized for NHWC 2-D only.
    const bool conv = std::holds_alternative<kernels::ConvParams>(fp32.lowerings[i].params);
    if (w != nullptr && (!conv || (*w)->dims().size() == 4)) layers.push_back(static_cast<int>(i));
  }
  return layers;
}

absl::StatusOr<QuantSpec> BuildQuantSpec(const LoweredGraph& fp32, const std::map<ValueId, ValueStats>& stats,
                                         const QuantizationOptions& options, const std::set<int>& fp32_layers) {
  const Graph& g = *fp32.graph;
  QuantSpec spec;
  const bool dynamic = options.mode == QuantMode::kDynamic;
  if (options.mode == QuantMode::kNone) return spec;

  if (!dynamic) {
    ScaleGroups groups(g.num_values());
    for (size_t i = 0; i < g.nodes().size(); ++i) {
      const Node& n = g.nodes()[i];
      if (!SharesScale(n.op_type, fp32.lowerings[i])) continue;
      for (int k : fp32.lowerings[i].runtime_inputs) groups.Union(n.inputs[k], n.outputs[0]);
    }
    // Group thresholds and signedness over the members that have statistics.
    std::map<int, float> threshold;
    std::map<int, bool> non_negative;
    for (const auto& [v, s] : stats) {
      const int root = groups.Find(v);
      const bool nn = s.min >= 0.0f;
      non_negative.try_emplace(root, true);
      non_negative[root] = non_negative[root] && nn;
    }
    // Graph inputs keep their observed range whatever the method: clipping
    // the caller's data before the first layer loses what no layer recovers.
    std::vector<bool> is_input(g.num_values(), false);
    for (const GraphInput& in : g.inputs()) is_input[in.value] = true;
    for (const auto& [v, s] : stats) {
      const int root = groups.Find(v);
      float& t = threshold.try_emplace(root, 0.0f).first->second;
      const float member =
          is_input[v] ? std::max(std::abs(s.min), std::abs(s.max)) : Threshold(s, options, non_negative[root]);
      t = std::max(t, member);
    }
    const std::vector<bool> asymmetric_ok = options.activations == ActivationScheme::kSymmetric
                                                ? std::vector<bool>(g.num_values(), false)
                                                : AsymmetricCandidates(fp32, groups);
    for (const auto& [v, s] : stats) {
      if (!std::isfinite(s.min) || !std::isfinite(s.max)) continue;
      const int root = groups.Find(v);
      const bool u8 = non_negative[root];
      const float t = threshold[root];
      spec.values[v] = {u8 ? core::DataType::kUInt8 : core::DataType::kInt8, t > 0 ? t / (u8 ? 255.0f : 127.0f) : 1.0f};
      if (u8 || !asymmetric_ok[v]) continue;
      const std::optional<ActivationChoice> asym = AsymmetricGrid(s.min, s.max, t);
      if (asym && (options.activations == ActivationScheme::kAsymmetric || asym->gain_db >= kMinAsymmetricGainDb)) {
        spec.values[v] = {core::DataType::kUInt8, asym->scale, asym->zero_point};
      }
    }
  }

  for (int i : QuantizableLayers(fp32)) {
    if (fp32_layers.count(i)) continue;
    const Lowering& l = fp32.lowerings[i];
    const Node& n = g.nodes()[i];
    const bool is_conv = std::holds_alternative<kernels::ConvParams>(l.params);
    if (dynamic && is_conv &&
        !DynamicConvPays((*FloatWeights(l))->dims(), std::get<kernels::ConvParams>(l.params).groups)) {
      continue;
    }
    const ValueId input = n.inputs[l.runtime_inputs[0]];
    if (!dynamic && !spec.values.count(input)) continue;
    const core::Tensor& w = **FloatWeights(l);
    const int axis = is_conv ? 0 : 1;
    QuantizedTensor q = QuantizeWeights(w, axis, options.per_channel);
    LayerQuant lq;
    lq.weight_scales = q.scales;
    lq.dynamic = dynamic;
    const kernels::ConstTensorPtr& bias =
        is_conv ? std::get<kernels::ConvParams>(l.params).bias : std::get<kernels::MatMulParams>(l.params).bias;
    lq.bias = bias;
    auto st = stats.find(input);
    // CorrectBias leaves the bias alone when the means do not line up with
    // the weights (e.g. a MatMul over a 3-D input, whose dim 1 is not K).
    if (!dynamic && st != stats.end() && !st->second.channel_mean.empty()) {
      const int64_t groups = is_conv ? std::get<kernels::ConvParams>(l.params).groups : 1;
      lq.bias = CorrectBias(w, q, axis, bias.get(), st->second.channel_mean, groups);
    }
    lq.qweights = std::move(q.values);
    spec.layers[i] = std::move(lq);
  }
  return spec;
}

}  // namespace q8::engine
