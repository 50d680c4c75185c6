// Finding and folding a per-channel rescale (see channel_rescale.h).
#include "engine/quant/channel_rescale.h"

#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace q8::engine {
namespace {

// Which axis of the activation holds the channels a node produces or reads:
// the last one (LayerNormalization, MatMul, Gemm) or dim 1 (Conv, NCHW).
enum class Axis { kLast, kOne };

absl::Status Unfoldable(const Graph& g, ValueId v, const std::string& why) {
  return absl::FailedPreconditionError(absl::StrCat("'", g.value(v).name, "': ", why));
}

// A constant only `node` reads (so rescaling it changes nothing else).
bool PrivateConstant(const Graph& g, ValueId c, int node) {
  if (!g.IsConstant(c) || g.value(c).constant->dtype() != core::DataType::kFloat32 ||
      !g.value(c).constant->has_storage() || g.IsGraphOutput(c)) {
    return false;
  }
  const std::vector<int> users = g.Consumers(c);
  return users.size() == 1 && users[0] == node;
}

bool OptionalPrivate(const Graph& g, const Node& n, size_t i, int node) {
  return n.inputs.size() <= i || n.inputs[i] == kNoValue || PrivateConstant(g, n.inputs[i], node);
}

int64_t IntAttr(const Node& n, const char* name, int64_t fallback) {
  auto v = n.attrs.GetInt(name, fallback);
  return v.ok() ? *v : -1;
}

// Channel count a consumer reads (its weights' input-channel extent), or an error.
absl::StatusOr<std::pair<Axis, int64_t>> ConsumerChannels(const Graph& g, int c, ValueId v) {
  const Node& n = g.nodes()[c];
  const std::string who = absl::StrCat("read by ", n.Describe());
  if (n.inputs.empty() || n.inputs[0] != v) return Unfoldable(g, v, absl::StrCat(who, " as other than its data input"));
  for (size_t i = 1; i < n.inputs.size(); ++i) {
    if (n.inputs[i] == v) return Unfoldable(g, v, absl::StrCat(who, " twice"));
  }
  if (n.inputs.size() < 2 || !PrivateConstant(g, n.inputs[1], c)) {
    return Unfoldable(g, v, absl::StrCat(who, ", whose weights are not a private f32 constant"));
  }
  const core::Dims& w = g.value(n.inputs[1]).constant->dims();
  if (n.op_type == "MatMul" && w.size() == 2) return std::make_pair(Axis::kLast, w[0]);
  if (n.op_type == "Gemm" && w.size() == 2 && IntAttr(n, "transA", 0) == 0) {
    return std::make_pair(Axis::kLast, IntAttr(n, "transB", 0) == 1 ? w[1] : w[0]);
  }
  if (n.op_type == "Conv" && w.size() >= 3) {
    const int64_t group = IntAttr(n, "group", 1);
    if (group == 1) return std::make_pair(Axis::kOne, w[1]);
    if (w[1] == 1 && group > 1 && w[0] % group == 0) return std::make_pair(Axis::kOne, group);  // depthwise
  }
  return Unfoldable(g, v, absl::StrCat(who, ", which has no per-input-channel weights to fold into"));
}

// Output channel count of the producer, or an error.
absl::StatusOr<std::pair<Axis, int64_t>> ProducerChannels(const Graph& g, int p, ValueId v) {
  const Node& n = g.nodes()[p];
  const std::string who = absl::StrCat("produced by ", n.Describe());
  for (const FusedActivation& a : n.fused) {
    if (a.kind != FusedActivation::Kind::kRelu) {
      return Unfoldable(g, v, absl::StrCat(who, " with a fused activation that does not commute with a scale"));
    }
  }
  if (n.accumulate) return Unfoldable(g, v, absl::StrCat(who, ", which adds a residual"));
  if (n.outputs.empty() || n.outputs[0] != v) return Unfoldable(g, v, absl::StrCat(who, " as a secondary output"));
  if (n.op_type == "LayerNormalization") {
    if (IntAttr(n, "axis", -1) != -1) return Unfoldable(g, v, absl::StrCat(who, " over more than the last axis"));
    if (n.inputs.size() < 2 || !PrivateConstant(g, n.inputs[1], p) || !OptionalPrivate(g, n, 2, p)) {
      return Unfoldable(g, v, absl::StrCat(who, ", whose gamma/beta are not private f32 constants"));
    }
    return std::make_pair(Axis::kLast, int64_t{0});  // any: gamma/beta broadcast, checked when folding
  }
  const bool matmul = n.op_type == "MatMul" || (n.op_type == "Gemm" && IntAttr(n, "transA", 0) == 0);
  if (matmul && n.inputs.size() >= 2 && PrivateConstant(g, n.inputs[1], p) && OptionalPrivate(g, n, 2, p) &&
      g.value(n.inputs[1]).constant->dims().size() == 2) {
    const core::Dims& w = g.value(n.inputs[1]).constant->dims();
    const int64_t out = n.op_type == "Gemm" && IntAttr(n, "transB", 0) == 1 ? w[0] : w[1];
    if (n.inputs.size() > 2 && n.inputs[2] != kNoValue && g.value(n.inputs[2]).constant->num_elements() != out) {
      return Unfoldable(g, v, absl::StrCat(who, ", whose bias is not one value per output channel"));
    }
    return std::make_pair(Axis::kLast, out);
  }
  if (n.op_type == "Conv" && n.inputs.size() >= 2 && PrivateConstant(g, n.inputs[1], p) &&
      OptionalPrivate(g, n, 2, p)) {
    return std::make_pair(Axis::kOne, g.value(n.inputs[1]).constant->dims()[0]);
  }
  return Unfoldable(g, v,
                    absl::StrCat(who,
                                 ", which cannot absorb a per-channel scale (only LayerNormalization, "
                                 "MatMul/Gemm and Conv with constant parameters can)"));
}

// Index of weight element `i`'s channel for `axis_channels` along the
// weights' input (consumer) or output (producer) axis.
struct WeightAxis {
  int64_t inner = 1;  // elements per step of the axis
  int64_t extent = 1;
  int64_t divisor = 1;  // depthwise: output channels per input channel
  int64_t Channel(int64_t i) const { return (i / inner) % extent / divisor; }
};

// How the weights of node `n` are indexed by the rescaled channel.
WeightAxis ConsumerAxis(const Node& n, const core::Dims& w) {
  if (n.op_type == "MatMul" || (n.op_type == "Gemm" && IntAttr(n, "transB", 0) == 0)) return {w[1], w[0], 1};
  if (n.op_type == "Gemm") return {1, w[1], 1};
  int64_t spatial = 1;
  for (size_t d = 2; d < w.size(); ++d) spatial *= w[d];
  if (IntAttr(n, "group", 1) == 1) return {spatial, w[1], 1};
  return {spatial * w[1], w[0], w[0] / IntAttr(n, "group", 1)};  // depthwise: by output channel
}

WeightAxis ProducerAxis(const Node& n, const core::Dims& w) {
  if (n.op_type == "MatMul" || (n.op_type == "Gemm" && IntAttr(n, "transB", 0) == 0)) return {1, w[1], 1};
  if (n.op_type == "Gemm") return {w[1], w[0], 1};
  return {core::NumElements(w) / w[0], w[0], 1};  // Conv: output channel is dim 0
}

// A copy of constant `c` with every element multiplied by f(channel).
template <typename F>
void ScaleConstant(Graph& g, ValueId c, const WeightAxis& axis, F f) {
  const core::Tensor& old = *g.value(c).constant;
  auto t = std::make_shared<core::Tensor>(old.Clone());
  auto x = t->span<float>();
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) x[i] *= f(axis.Channel(i));
  g.value(c).constant = std::move(t);
}

}  // namespace

absl::StatusOr<RescaleSite> FindRescaleSite(const Graph& g, ValueId v) {
  if (v == kNoValue || g.IsConstant(v)) return absl::FailedPreconditionError("not a runtime tensor");
  if (g.IsGraphOutput(v)) return Unfoldable(g, v, "a graph output");
  RescaleSite site;
  site.value = v;
  site.producer = g.value(v).producer;
  if (site.producer < 0) return Unfoldable(g, v, "a graph input (no producer to fold into)");
  Q8_ASSIGN_OR_RETURN(auto produced, ProducerChannels(g, site.producer, v));
  site.consumers = g.Consumers(v);
  if (site.consumers.empty()) return Unfoldable(g, v, "not read by any node");
  for (int c : site.consumers) {
    Q8_ASSIGN_OR_RETURN(auto read, ConsumerChannels(g, c, v));
    if (read.first != produced.first) {
      return Unfoldable(g, v, absl::StrCat("read by ", g.nodes()[c].Describe(), " along another axis"));
    }
    if (site.channels != 0 && read.second != site.channels) {
      return Unfoldable(g, v, "consumers disagree on the channel count");
    }
    site.channels = read.second;
  }
  if (produced.second != 0 && produced.second != site.channels) {
    return Unfoldable(g, v,
                      absl::StrCat("the producer has ", produced.second, " channels, consumers read ", site.channels));
  }
  const Node& p = g.nodes()[site.producer];
  if (p.op_type == "LayerNormalization") {  // gamma/beta: one value or one per channel
    for (size_t i = 1; i < p.inputs.size() && i < 3; ++i) {
      if (p.inputs[i] == kNoValue) continue;
      const int64_t n = g.value(p.inputs[i]).constant->num_elements();
      if (n != 1 && n != site.channels) return Unfoldable(g, v, "gamma/beta do not match the channel count");
    }
  }
  return site;
}

std::vector<float> ConsumerWeightAbsMax(const Graph& g, const RescaleSite& site) {
  std::vector<float> m(site.channels, 0.0f);
  for (int c : site.consumers) {
    const Node& n = g.nodes()[c];
    const core::Tensor& w = *g.value(n.inputs[1]).constant;
    const WeightAxis axis = ConsumerAxis(n, w.dims());
    auto x = w.span<float>();
    for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) {
      float& slot = m[axis.Channel(i)];
      slot = std::max(slot, std::abs(x[i]));
    }
  }
  return m;
}

absl::Status ApplyRescale(Graph& g, const RescaleSite& site, absl::Span<const float> s) {
  if (static_cast<int64_t>(s.size()) != site.channels) {
    return absl::InvalidArgumentError(absl::StrCat("channel rescale of '", g.value(site.value).name, "': ", s.size(),
                                                   " scales for ", site.channels, " channels"));
  }
  for (float x : s) {
    if (!std::isfinite(x) || !(x > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("channel rescale of '", g.value(site.value).name, "': scales must be finite and > 0"));
    }
  }
  const Node producer = g.nodes()[site.producer];
  auto divide = [&](int64_t ch) { return 1.0f / s[ch]; };
  if (producer.op_type == "LayerNormalization") {
    for (size_t i = 1; i < producer.inputs.size() && i < 3; ++i) {
      const ValueId c = producer.inputs[i];
      if (c == kNoValue) continue;
      const core::Tensor& old = *g.value(c).constant;
      auto t = std::make_shared<core::Tensor>(core::DataType::kFloat32, core::Dims{site.channels});
      auto x = t->span<float>();
      for (int64_t j = 0; j < site.channels; ++j) x[j] = old.span<float>()[old.num_elements() == 1 ? 0 : j] / s[j];
      g.value(c).constant = std::move(t);
    }
  } else {
    const core::Dims& w = g.value(producer.inputs[1]).constant->dims();
    ScaleConstant(g, producer.inputs[1], ProducerAxis(producer, w), divide);
    if (producer.inputs.size() > 2 && producer.inputs[2] != kNoValue) {
      const int64_t n = g.value(producer.inputs[2]).constant->num_elements();
      ScaleConstant(g, producer.inputs[2], WeightAxis{1, n, 1}, divide);
    }
  }
  for (int c : site.consumers) {
    const Node& n = g.nodes()[c];
    const ValueId w = n.inputs[1];
    ScaleConstant(g, w, ConsumerAxis(n, g.value(w).constant->dims()), [&](int64_t ch) { return s[ch]; });
  }
  return absl::OkStatus();
}

absl::Status ApplyRescales(Graph& g, const std::vector<ChannelRescale>& rescales) {
  for (const ChannelRescale& r : rescales) {
    if (r.value < 0 || r.value >= g.num_values()) return absl::DataLossError("channel rescale of an unknown tensor");
    auto site = FindRescaleSite(g, r.value);
    if (!site.ok())
      return absl::DataLossError(absl::StrCat("recorded channel rescale no longer fits: ", site.status().message()));
    absl::Status s = ApplyRescale(g, *site, r.scales);
    if (!s.ok()) return absl::DataLossError(s.message());
  }
  return absl::OkStatus();
}

}  // namespace q8::engine
