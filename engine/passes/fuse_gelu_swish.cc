// fuse_gelu_swish: activation formulas written out op by op become one
// eltwise node each:
//   erf GELU:  x * 0.5 * (1 + Erf(x / sqrt(2)))                  -> Gelu
//   tanh GELU: x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 x^3))) -> Gelu(approximate=tanh)
//   swish:     Mul(x, Sigmoid(x))                                -> Swish (internal op)
//   HardSigmoid: Clip(x + 3, 0, 6) / 6 (or * 1/6)                -> HardSigmoid(1/6, 0.5)
//   HardSwish: Mul(x, HardSigmoid(x; 1/6, 0.5)) and x * Clip(x + 3, 0, 6) / 6 -> HardSwish
// The 0.5 may sit on x, on (1 + ...) or on the product; the division by
// sqrt(2) may be a multiplication by 1/sqrt(2). Constants match to 1e-3
// relative (exporters print 4 to 8 digits). Every intermediate must be
// private to the pattern.
#include "engine/ops/op_impls.h"
#include "engine/passes/pass.h"
#include "engine/passes/pattern_util.h"

namespace q8::engine {
namespace {

using namespace patterns;  // NOLINT: local matchers

constexpr float kSqrt2 = 1.41421356f;
constexpr float kSqrt2OverPi = 0.79788456f;

// Binary node `n` is op(v, constant c) in either order with c ~= want.
bool ScalesBy(const Graph& g, const Node& n, const std::string& op, ValueId v, float want) {
  if (n.op_type != op || !n.fused.empty()) return false;
  return Near(ScalarConstant(g, OtherInput(n, v)), want);
}

// v == x / sqrt(2) or x * (1/sqrt(2)); returns x or kNoValue.
ValueId ErfArgument(const Graph& g, ValueId v) {
  const int p = ProducerOf(g, v);
  if (p < 0) return kNoValue;
  const Node& n = g.nodes()[p];
  if (n.inputs.size() != 2 || !n.fused.empty()) return kNoValue;
  if (n.op_type == "Div" && Near(ScalarConstant(g, n.inputs[1]), kSqrt2)) return n.inputs[0];
  if (n.op_type == "Mul") {
    for (int i = 0; i < 2; ++i) {
      if (Near(ScalarConstant(g, n.inputs[1 - i]), 1.0f / kSqrt2)) return n.inputs[i];
    }
  }
  return kNoValue;
}

// x^3 as Pow(x, 3), x * (x * x) or (x * x) * x, private to node `reader`.
bool IsCube(const Graph& g, ValueId cube, ValueId x, int reader) {
  const int pw = ProducerOf(g, cube);
  if (pw < 0 || !PrivateTo(g, cube, reader) || !g.nodes()[pw].fused.empty()) return false;
  const Node& pn = g.nodes()[pw];
  if (pn.op_type == "Pow") return pn.inputs[0] == x && Near(ScalarConstant(g, pn.inputs[1]), 3.0f, 1e-6f);
  if (pn.op_type != "Mul") return false;
  for (int j = 0; j < 2; ++j) {
    const int sqm = ProducerOf(g, pn.inputs[1 - j], "Mul");
    if (pn.inputs[j] == x && sqm >= 0 && g.nodes()[sqm].inputs[0] == x && g.nodes()[sqm].inputs[1] == x &&
        PrivateTo(g, pn.inputs[1 - j], pw)) {
      return true;
    }
  }
  return false;
}

// v == sqrt(2/pi) * (x + 0.044715 * x^3); returns x or kNoValue.
ValueId TanhArgument(const Graph& g, ValueId v) {
  const int s = ProducerOf(g, v, "Mul");
  if (s < 0 || !g.nodes()[s].fused.empty()) return kNoValue;
  const Node& sn = g.nodes()[s];
  ValueId r = kNoValue;
  for (int i = 0; i < 2; ++i) {
    if (Near(ScalarConstant(g, sn.inputs[1 - i]), kSqrt2OverPi)) r = sn.inputs[i];
  }
  const int add = ProducerOf(g, r, "Add");
  if (add < 0 || !PrivateTo(g, r, s) || !g.nodes()[add].fused.empty()) return kNoValue;
  const Node& an = g.nodes()[add];
  for (int i = 0; i < 2; ++i) {
    const ValueId x = an.inputs[i], q = an.inputs[1 - i];
    const int qm = ProducerOf(g, q, "Mul");
    if (qm < 0 || !PrivateTo(g, q, add) || !g.nodes()[qm].fused.empty()) continue;
    const Node& qn = g.nodes()[qm];
    for (int k = 0; k < 2; ++k) {
      if (Near(ScalarConstant(g, qn.inputs[1 - k]), 0.044715f) && IsCube(g, qn.inputs[k], x, qm)) return x;
    }
  }
  return kNoValue;
}

// Given c = 1 + f(x), finds the node computing x * 0.5 * c (three forms);
// returns its index or -1.
int HalfProduct(const Graph& g, ValueId c, ValueId x) {
  const int m1 = SoleConsumer(g, c, "Mul");
  if (m1 < 0 || !g.nodes()[m1].fused.empty()) return -1;
  const ValueId o = OtherInput(g.nodes()[m1], c);
  const ValueId m1_out = g.nodes()[m1].outputs[0];
  if (o == x) {  // (x * c) * 0.5
    const int m2 = SoleConsumer(g, m1_out, "Mul");
    return m2 >= 0 && ScalesBy(g, g.nodes()[m2], "Mul", m1_out, 0.5f) ? m2 : -1;
  }
  if (Near(ScalarConstant(g, o), 0.5f)) {  // (c * 0.5) * x
    const int m2 = SoleConsumer(g, m1_out, "Mul");
    return m2 >= 0 && g.nodes()[m2].fused.empty() && OtherInput(g.nodes()[m2], m1_out) == x ? m2 : -1;
  }
  const int hx = ProducerOf(g, o, "Mul");  // (x * 0.5) * c
  if (hx >= 0 && PrivateTo(g, o, m1) && ScalesBy(g, g.nodes()[hx], "Mul", x, 0.5f)) return m1;
  return -1;
}

// Clip(x + 3, 0, 6) producing `v`; returns x or kNoValue.
ValueId Relu6OfXPlus3(const Graph& g, ValueId v, const PassContext& pctx) {
  const int clip = ProducerOf(g, v, "Clip");
  if (clip < 0 || !g.nodes()[clip].fused.empty()) return kNoValue;
  OpContext octx{g, g.nodes()[clip], pctx.opset, {}};
  auto act = ops::ActivationOf(octx);
  if (!act.ok() || act->lo != 0.0f || act->hi != 6.0f) return kNoValue;
  const ValueId s = g.nodes()[clip].inputs[0];
  const int add = ProducerOf(g, s, "Add");
  if (add < 0 || !PrivateTo(g, s, clip) || !g.nodes()[add].fused.empty()) return kNoValue;
  const Node& an = g.nodes()[add];
  for (int i = 0; i < 2; ++i) {
    if (Near(ScalarConstant(g, an.inputs[1 - i]), 3.0f, 1e-6f)) return an.inputs[i];
  }
  return kNoValue;
}

// Node `n` divides by 6 or multiplies by 1/6; returns the other input.
ValueId DividedBySix(const Graph& g, const Node& n) {
  if (n.inputs.size() != 2 || !n.fused.empty()) return kNoValue;
  if (n.op_type == "Div" && Near(ScalarConstant(g, n.inputs[1]), 6.0f)) return n.inputs[0];
  if (n.op_type == "Mul") {
    for (int i = 0; i < 2; ++i) {
      if (Near(ScalarConstant(g, n.inputs[1 - i]), 1.0f / 6.0f)) return n.inputs[i];
    }
  }
  return kNoValue;
}

class FuseGeluSwishPass : public Pass {
 public:
  const char* name() const override { return "fuse_gelu_swish"; }

  absl::StatusOr<int> Run(Graph& g, const PassContext& pctx) const override {
    int changed = 0;
    for (size_t i = 0; i < g.nodes().size(); ++i) {
      const int index = static_cast<int>(i);
      const Node& n = g.nodes()[i];
      if (n.removed) continue;
      if (n.op_type == "Erf" || n.op_type == "Tanh") {
        changed += FuseGelu(g, index);
      } else if (n.op_type == "Mul" && n.fused.empty() && n.inputs.size() == 2) {
        changed += FuseSwish(g, index, pctx);
      }
      const Node& now = g.nodes()[i];
      if (!now.removed && (now.op_type == "Div" || now.op_type == "Mul")) changed += FuseHardSigmoid(g, index, pctx);
    }
    return changed;
  }

 private:
  static int FuseGelu(Graph& g, int f) {
    const Node& fn = g.nodes()[f];
    const bool erf = fn.op_type == "Erf";
    const ValueId arg = fn.inputs[0];
    const ValueId x = erf ? ErfArgument(g, arg) : TanhArgument(g, arg);
    if (x == kNoValue || !PrivateTo(g, arg, f)) return 0;
    const int one = SoleConsumer(g, fn.outputs[0], "Add");
    if (one < 0 || !ScalesBy(g, g.nodes()[one], "Add", fn.outputs[0], 1.0f)) return 0;
    const int last = HalfProduct(g, g.nodes()[one].outputs[0], x);
    if (last < 0) return 0;
    Rewrite(g.nodes()[last], "Gelu", {x});
    g.nodes()[last].attrs.Set("approximate", std::string(erf ? "none" : "tanh"));
    return 1;
  }

  // Mul(x, Sigmoid(x)) -> Swish; Mul(x, HardSigmoid(x; 1/6, 0.5)) -> HardSwish;
  // Mul(x, Clip(x + 3, 0, 6)) / 6 -> HardSwish.
  static int FuseSwish(Graph& g, int m, const PassContext& pctx) {
    const Node& mn = g.nodes()[m];
    for (int k = 0; k < 2; ++k) {
      const ValueId x = mn.inputs[k], s = mn.inputs[1 - k];
      const int sig = ProducerOf(g, s);
      if (sig < 0 || g.nodes()[sig].inputs.empty() || !PrivateTo(g, s, m) || !g.nodes()[sig].fused.empty()) continue;
      const Node& sn = g.nodes()[sig];
      if (sn.op_type == "Sigmoid" && sn.inputs[0] == x) {
        Rewrite(g.nodes()[m], "Swish", {x});
        return 1;
      }
      if (sn.op_type == "HardSigmoid" && sn.inputs[0] == x) {
        auto alpha = sn.attrs.GetFloat("alpha", 0.2f);
        auto beta = sn.attrs.GetFloat("beta", 0.5f);
        if (alpha.ok() && beta.ok() && Near(*alpha, 1.0f / 6.0f) && Near(*beta, 0.5f)) {
          Rewrite(g.nodes()[m], "HardSwish", {x});
          return 1;
        }
      }
      if (sn.op_type == "Clip" && Relu6OfXPlus3(g, s, pctx) == x) {
        const ValueId prod = mn.outputs[0];
        int d = SoleConsumer(g, prod, "Div");
        if (d < 0) d = SoleConsumer(g, prod, "Mul");
        if (d >= 0 && DividedBySix(g, g.nodes()[d]) == prod) {
          Rewrite(g.nodes()[d], "HardSwish", {x});
          return 1;
        }
      }
    }
    return 0;
  }

  // Clip(x + 3, 0, 6) / 6 -> HardSigmoid(alpha=1/6, beta=0.5).
  static int FuseHardSigmoid(Graph& g, int d, const PassContext& pctx) {
    const ValueId c = DividedBySix(g, g.nodes()[d]);
    if (c == kNoValue || !PrivateTo(g, c, d)) return 0;
    const ValueId x = Relu6OfXPlus3(g, c, pctx);
    if (x == kNoValue) return 0;
    Rewrite(g.nodes()[d], "HardSigmoid", {x});
    g.nodes()[d].attrs.Set("alpha", 1.0f / 6.0f);
    g.nodes()[d].attrs.Set("beta", 0.5f);
    return 1;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseGeluSwishPass() { return std::make_unique<FuseGeluSwishPass>(); }

}  // namespace q8::engine
