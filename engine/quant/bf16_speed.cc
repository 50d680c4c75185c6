// The bf16-vs-fp32 size rule (see bf16_speed.h).
#include "engine/quant/bf16_speed.h"

#include <variant>

#include "absl/strings/str_format.h"
#include "engine/plan/shape_inference.h"

namespace q8::engine {
namespace {

// "18.4 kMAC", "2.36 MMAC", "1.2 GMAC".
std::string Macs(int64_t macs) {
  const double m = static_cast<double>(macs);
  if (m >= 1e9) return absl::StrFormat("%.3g GMAC", m / 1e9);
  if (m >= 1e6) return absl::StrFormat("%.3g MMAC", m / 1e6);
  if (m >= 1e3) return absl::StrFormat("%.3g kMAC", m / 1e3);
  return absl::StrFormat("%d MAC", macs);
}

}  // namespace

std::map<int, int64_t> LayerMacs(const LoweredGraph& lowered, const std::vector<int>& layers) {
  std::map<int, int64_t> macs;
  absl::StatusOr<std::vector<core::Dims>> dims = InferValueDims(*lowered.graph, lowered.opset, 1);
  if (!dims.ok()) return macs;
  for (int i : layers) {
    const Lowering& l = lowered.lowerings[i];
    kernels::ConstTensorPtr w;
    int64_t out_channels = 0;
    if (const auto* c = std::get_if<kernels::ConvParams>(&l.params); c != nullptr && c->weights) {
      w = c->weights;
      out_channels = w->dims()[0];  // [OC, IC/groups, k...]
    } else if (const auto* m = std::get_if<kernels::MatMulParams>(&l.params); m != nullptr && m->weights) {
      w = m->weights;
      out_channels = w->dims().back();  // [K, N]
    }
    const ValueId out = lowered.graph->nodes()[i].outputs[0];
    if (w == nullptr || out_channels <= 0 || (*dims)[out].empty()) continue;
    macs[i] = core::NumElements((*dims)[out]) * (w->num_elements() / out_channels);
  }
  return macs;
}

Bf16Speed PredictBf16Speed(int64_t macs, int64_t min_macs) {
  Bf16Speed s;
  s.faster = macs >= min_macs;
  s.why = absl::StrFormat("%s than fp32 at this size (%s per sample %s %s)", s.faster ? "faster" : "slower", Macs(macs),
                          s.faster ? ">=" : "<", Macs(min_macs));
  return s;
}

}  // namespace q8::engine
