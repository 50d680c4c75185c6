// Cross-layer equalization: pair finding, the sweep, write-back.
#include "engine/passes/equalize_cross_layer.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "engine/passes/channel_scaling.h"
#include "engine/passes/pattern_util.h"

namespace q8::engine {
namespace {

constexpr int kMaxSweeps = 64;
constexpr double kTolerance = 1e-4;

int64_t Groups(const Node& n) {
  auto g = n.attrs.GetInt("group", 1);
  return g.ok() ? *g : -1;
}

// A float constant read by `node` only: rescaling it changes nothing else.
bool OwnedFloatConstant(const Graph& g, ValueId v, int node) {
  if (!g.IsConstant(v) || g.value(v).constant->dtype() != core::DataType::kFloat32) return false;
  return patterns::PrivateTo(g, v, node);
}

// A Conv whose constant weights (and bias, if any) only it reads.
bool ConvWithOwnWeights(const Graph& g, int i) {
  const Node& n = g.nodes()[i];
  if (n.removed || n.op_type != "Conv" || n.inputs.size() < 2 || !OwnedFloatConstant(g, n.inputs[1], i)) return false;
  const core::Dims& w = g.value(n.inputs[1]).constant->dims();
  const int64_t groups = Groups(n);
  if (w.size() < 3 || w[0] < 1 || groups < 1 || w[0] % groups != 0) return false;
  if (n.inputs.size() > 2 && n.inputs[2] != kNoValue) {
    if (!OwnedFloatConstant(g, n.inputs[2], i) || g.value(n.inputs[2]).constant->num_elements() != w[0]) return false;
  }
  return true;
}

bool IsDepthwise(const Graph& g, const Node& n) {
  return Groups(n) > 1 && g.value(n.inputs[1]).constant->dims()[1] == 1;
}

// Ops between the two convs that commute with a positive per-channel scale.
bool HomogeneousLink(const Graph& g, const Node& n) {
  if (n.op_type == "Relu" || n.op_type == "Identity") return true;
  if (n.op_type != "MaxPool") return false;
  // A read Indices output does not change with the scale either, but keep the
  // pattern to the plain form.
  return n.outputs.size() < 2 || n.outputs[1] == kNoValue || g.Consumers(n.outputs[1]).empty();
}

// W1's output feeds W2 through the link unchanged per channel: only ReLUs fused.
bool HomogeneousFused(const Node& n) {
  if (n.accumulate) return false;
  for (const FusedActivation& a : n.fused) {
    if (a.kind != FusedActivation::Kind::kRelu) return false;
  }
  return true;
}

float SafeScale(float r1, float r2) {
  if (!(r1 > 0) || !(r2 > 0)) return 1.0f;  // a dead channel on either side: nothing to balance
  const float s = std::sqrt(r1 / r2);
  return std::isfinite(s) && s > 0 ? s : 1.0f;
}

}  // namespace

std::vector<EqualizablePair> FindEqualizablePairs(const Graph& g) {
  std::vector<EqualizablePair> pairs;
  for (int second = 0; second < static_cast<int>(g.nodes().size()); ++second) {
    if (!ConvWithOwnWeights(g, second)) continue;
    const Node& n2 = g.nodes()[second];
    const ValueId between = n2.inputs[0];
    ValueId v = between;
    int reader = second;
    int p = patterns::ProducerOf(g, v);
    while (p >= 0 && HomogeneousLink(g, g.nodes()[p]) && patterns::PrivateTo(g, v, reader)) {
      reader = p;
      v = g.nodes()[p].inputs.empty() ? kNoValue : g.nodes()[p].inputs[0];
      p = patterns::ProducerOf(g, v);
    }
    if (p < 0 || p == second || !ConvWithOwnWeights(g, p) || !patterns::PrivateTo(g, v, reader)) continue;
    const Node& n1 = g.nodes()[p];
    if (!HomogeneousFused(n1)) continue;
    const core::Dims& w1 = g.value(n1.inputs[1]).constant->dims();
    const core::Dims& w2 = g.value(n2.inputs[1]).constant->dims();
    if (w1[0] != w2[1] * Groups(n2)) continue;
    pairs.push_back({p, second, between, IsDepthwise(g, n1) || IsDepthwise(g, n2)});
  }
  return pairs;
}

EqualizationResult EqualizeCrossLayer(Graph& g) {
  EqualizationResult result;
  const std::vector<EqualizablePair> pairs = FindEqualizablePairs(g);
  if (pairs.empty()) {
    result.converged = true;
    return result;
  }
  // Working copies of every weight and bias involved, written back at the end.
  std::map<ValueId, std::shared_ptr<core::Tensor>> copies;
  auto copy_of = [&](ValueId v) -> core::Tensor& {
    auto& t = copies[v];
    if (t == nullptr) t = std::make_shared<core::Tensor>(g.value(v).constant->Clone());
    return *t;
  };
  auto bias_of = [&](const Node& n) -> core::Tensor* {
    return n.inputs.size() > 2 && n.inputs[2] != kNoValue ? &copy_of(n.inputs[2]) : nullptr;
  };
  auto ranges = [&](const EqualizablePair& p) {
    const Node& n2 = g.nodes()[p.second];
    return std::make_pair(AbsMaxAlongAxis(copy_of(g.nodes()[p.first].inputs[1]), 0),
                          ConvInputChannelAbsMax(copy_of(n2.inputs[1]), Groups(n2)));
  };

  for (const EqualizablePair& p : pairs) {
    EqualizedPair e;
    e.pair = p;
    auto [r1, r2] = ranges(p);
    e.scale.assign(r1.size(), 1.0f);
    e.first_spread_before = RangeSpread(r1);
    e.second_spread_before = RangeSpread(r2);
    result.pairs.push_back(std::move(e));
  }
  for (result.sweeps = 1; result.sweeps <= kMaxSweeps; ++result.sweeps) {
    double moved = 0;
    for (EqualizedPair& e : result.pairs) {
      const Node& n1 = g.nodes()[e.pair.first];
      const Node& n2 = g.nodes()[e.pair.second];
      auto [r1, r2] = ranges(e.pair);
      std::vector<float> s(r1.size()), inv(r1.size());
      for (size_t i = 0; i < r1.size(); ++i) {
        s[i] = SafeScale(r1[i], r2[i]);
        inv[i] = 1.0f / s[i];
        e.scale[i] *= s[i];
        moved = std::max(moved, std::abs(static_cast<double>(s[i]) - 1.0));
      }
      ScaleAlongAxis(copy_of(n1.inputs[1]), 0, inv);
      if (core::Tensor* b = bias_of(n1)) ScaleAlongAxis(*b, 0, inv);
      ScaleConvInputChannels(copy_of(n2.inputs[1]), Groups(n2), s);
    }
    if (moved <= kTolerance) {
      result.converged = true;
      break;
    }
  }
  result.sweeps = std::min(result.sweeps, kMaxSweeps);
  for (EqualizedPair& e : result.pairs) {
    auto [r1, r2] = ranges(e.pair);
    e.first_spread_after = RangeSpread(r1);
    e.second_spread_after = RangeSpread(r2);
  }
  for (auto& [v, t] : copies) g.value(v).constant = std::move(t);
  return result;
}

}  // namespace q8::engine
