// LSTM, GRU and RNN (ONNX opset 7-14): one recurrent layer lowered to
// kernels::RnnParams. The weights must be constants; they are reordered here,
// once per model, from ONNX's gate order and [D, G*H, I] layout into
// oneDNN's (LSTM iofc -> ifco, peepholes iof -> ifo, GRU zrh = oneDNN's
// u r o) and ldigo layout, with the two ONNX biases summed (except the
// recurrent candidate bias of a linear-before-reset GRU, which oneDNN keeps
// apart). What oneDNN cannot compute is refused with the reason: clip,
// input_forget, non-default activations (vanilla RNN: Tanh/Relu/Sigmoid,
// the same for both directions), sequence_lens other than all = seq_length.
#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"

namespace q8::engine::ops {
namespace {

using kernels::RnnParams;

struct Geometry {
  RnnParams params;  // without tensors
  int64_t t = 0, n = 0, d = 1, in = 0, gates = 1;
  std::vector<int> gate_order;  // oneDNN gate k reads ONNX gate gate_order[k]
  core::Dims y, state;
};

absl::StatusOr<std::vector<std::string>> Strings(const OpContext& ctx, const std::string& name) {
  const auto& all = ctx.node.attrs.all();
  auto it = all.find(name);
  if (it == all.end()) return std::vector<std::string>{};
  const auto* v = std::get_if<std::vector<std::string>>(&it->second);
  if (v == nullptr) return ctx.Error(absl::StrCat("attribute '", name, "' must be a list of strings"));
  return *v;
}

absl::StatusOr<Geometry> Resolve(const OpContext& ctx) {
  const std::string& op = ctx.node.op_type;
  const Attributes& a = ctx.node.attrs;
  Geometry g;
  RnnParams& p = g.params;
  std::vector<std::string> defaults;
  if (op == "LSTM") {
    p.cell = RnnParams::Cell::kLstm;
    g.gates = 4;
    g.gate_order = {0, 2, 3, 1};  // oneDNN i f c o <- ONNX i o f c
    defaults = {"Sigmoid", "Tanh", "Tanh"};
  } else if (op == "GRU") {
    Q8_ASSIGN_OR_RETURN(const int64_t lbr, a.GetInt("linear_before_reset", 0));
    p.cell = lbr != 0 ? RnnParams::Cell::kLbrGru : RnnParams::Cell::kGru;
    g.gates = 3;
    g.gate_order = {0, 1, 2};
    defaults = {"Sigmoid", "Tanh"};
  } else {
    p.cell = RnnParams::Cell::kVanilla;
    g.gate_order = {0};
    defaults = {"Tanh"};
  }
  Q8_ASSIGN_OR_RETURN(const std::string direction, a.GetString("direction", "forward"));
  if (direction == "forward") {
    p.direction = RnnParams::Direction::kForward;
  } else if (direction == "reverse") {
    p.direction = RnnParams::Direction::kReverse;
  } else if (direction == "bidirectional") {
    p.direction = RnnParams::Direction::kBidirectional;
    g.d = 2;
  } else {
    return ctx.Error(absl::StrCat("unknown direction '", direction, "'"));
  }
  if (a.Has("clip")) return ctx.Unsupported("clip (oneDNN's RNN primitives do not clip)");
  Q8_ASSIGN_OR_RETURN(const int64_t input_forget, a.GetInt("input_forget", 0));
  if (input_forget != 0) return ctx.Unsupported("input_forget=1");
  if (a.Has("activation_alpha") || a.Has("activation_beta")) {
    return ctx.Unsupported("activation_alpha/activation_beta (only parameterless activations)");
  }
  Q8_ASSIGN_OR_RETURN(std::vector<std::string> activations, Strings(ctx, "activations"));
  if (!activations.empty()) {
    if (activations.size() != defaults.size() * g.d) {
      return ctx.Error(absl::StrCat("activations lists ", activations.size(), " functions; ", op, " with direction ",
                                    direction, " takes ", defaults.size() * g.d));
    }
    for (size_t i = 0; i < activations.size(); ++i) {
      if (p.cell == RnnParams::Cell::kVanilla) {
        if (activations[i] != activations[0]) return ctx.Unsupported("different activations per direction");
      } else if (activations[i] != defaults[i % defaults.size()]) {
        return ctx.Unsupported(absl::StrCat("activations [", absl::StrJoin(activations, ", "), "] (oneDNN's ", op,
                                            " computes only the defaults ", absl::StrJoin(defaults, ", "), ")"));
      }
    }
    if (p.cell == RnnParams::Cell::kVanilla) {
      const std::string& f = activations[0];
      if (f == "Tanh") {
        p.activation = kernels::Activation::Kind::kTanh;
      } else if (f == "Relu") {
        p.activation = kernels::Activation::Kind::kRelu;
      } else if (f == "Sigmoid") {
        p.activation = kernels::Activation::Kind::kSigmoid;
      } else {
        return ctx.Unsupported(absl::StrCat("activation '", f, "' (oneDNN's RNN computes Tanh, Relu or Sigmoid)"));
      }
    }
  }
  Q8_ASSIGN_OR_RETURN(const int64_t layout, a.GetInt("layout", 0));
  if (layout != 0 && layout != 1) return ctx.Error("layout must be 0 or 1");
  p.batch_first = layout == 1;

  const core::Dims& x = ctx.input_dims[0];
  if (x.size() != 3) return ctx.Error(absl::StrCat("X must be 3-D, got ", core::DimsToString(x)));
  g.t = p.batch_first ? x[1] : x[0];
  g.n = p.batch_first ? x[0] : x[1];
  g.in = x[2];
  const core::Tensor* w = ctx.constant(1);
  const core::Tensor* r = ctx.constant(2);
  if (w == nullptr || r == nullptr) return ctx.Unsupported("weights W and R that are not constant initializers");
  Q8_ASSIGN_OR_RETURN(const int64_t hidden_attr, a.GetInt("hidden_size", 0));
  const core::Dims& wd = w->dims();
  if (w->dtype() != core::DataType::kFloat32 || wd.size() != 3 || wd[0] != g.d || wd[2] != g.in ||
      wd[1] % g.gates != 0 || wd[1] == 0) {
    return ctx.Error(absl::StrCat("W must be float32 [", g.d, ", ", g.gates, "*hidden_size, ", g.in, "], got ",
                                  core::DimsToString(wd)));
  }
  p.hidden = wd[1] / g.gates;
  if (hidden_attr != 0 && hidden_attr != p.hidden) {
    return ctx.Error(absl::StrCat("hidden_size=", hidden_attr, " but W holds ", p.hidden));
  }
  const int64_t h = p.hidden;
  if (r->dtype() != core::DataType::kFloat32 || r->dims() != core::Dims{g.d, g.gates * h, h}) {
    return ctx.Error(absl::StrCat("R must be float32 [", g.d, ", ", g.gates * h, ", ", h, "]"));
  }
  if (ctx.has_input(3)) {
    const core::Tensor* b = ctx.constant(3);
    if (b == nullptr) return ctx.Unsupported("a bias B that is not a constant initializer");
    if (b->dtype() != core::DataType::kFloat32 || b->dims() != core::Dims{g.d, 2 * g.gates * h}) {
      return ctx.Error(absl::StrCat("B must be float32 [", g.d, ", ", 2 * g.gates * h, "]"));
    }
  }
  if (ctx.has_input(4)) {
    const core::Tensor* lens = ctx.constant(4);
    if (lens == nullptr) {
      return ctx.Unsupported("a runtime sequence_lens (only a constant equal to seq_length for every batch entry)");
    }
    bool all_full = lens->dims() == core::Dims{g.n};
    for (int64_t i = 0; all_full && i < lens->num_elements(); ++i) {
      if (lens->dtype() == core::DataType::kInt32) {
        all_full = lens->span<int32_t>()[i] == g.t;
      } else if (lens->dtype() == core::DataType::kInt64) {
        all_full = lens->span<int64_t>()[i] == g.t;
      } else {
        all_full = false;
      }
    }
    if (!all_full) {
      return ctx.Unsupported(absl::StrCat("sequence_lens other than seq_length (", g.t,
                                          ") for every batch entry: oneDNN's RNN primitives run full sequences"));
    }
  }
  g.state = p.batch_first ? core::Dims{g.n, g.d, h} : core::Dims{g.d, g.n, h};
  g.y = p.batch_first ? core::Dims{g.n, g.t, g.d, h} : core::Dims{g.t, g.d, g.n, h};
  const bool lstm = p.cell == RnnParams::Cell::kLstm;
  for (int i : lstm ? std::vector<int>{5, 6} : std::vector<int>{5}) {
    if (!ctx.has_input(i)) continue;
    if (ctx.input_dims[i] != g.state) {
      return ctx.Error(absl::StrCat(i == 5 ? "initial_h" : "initial_c", " must be ", core::DimsToString(g.state),
                                    ", got ", core::DimsToString(ctx.input_dims[i])));
    }
    if (ctx.graph.IsConstant(ctx.node.inputs[i]) && ctx.constant(i)->dtype() != core::DataType::kFloat32) {
      return ctx.Error("initial states must be float32");
    }
  }
  if (lstm && ctx.has_input(7)) {
    const core::Tensor* peep = ctx.constant(7);
    if (peep == nullptr) return ctx.Unsupported("peepholes P that are not a constant initializer");
    if (peep->dtype() != core::DataType::kFloat32 || peep->dims() != core::Dims{g.d, 3 * h}) {
      return ctx.Error(absl::StrCat("P must be float32 [", g.d, ", ", 3 * h, "]"));
    }
  }
  auto present = [&](size_t k) { return ctx.node.outputs.size() > k && ctx.node.outputs[k] != kNoValue; };
  p.y = present(0);
  p.y_h = present(1);
  p.y_c = lstm && present(2);
  return g;
}

// ONNX [D, G*H, K] (gate-major rows) -> oneDNN [D, K, G, H] in oneDNN's gate order.
kernels::ConstTensorPtr ToLdigo(const core::Tensor& onnx, const Geometry& g) {
  const int64_t d_n = onnx.dims()[0], k_n = onnx.dims()[2], h_n = g.params.hidden;
  const int64_t gates = static_cast<int64_t>(g.gate_order.size());
  auto out = std::make_shared<core::Tensor>(core::DataType::kFloat32, core::Dims{d_n, k_n, gates, h_n});
  const absl::Span<const float> src = onnx.span<float>();
  absl::Span<float> dst = out->span<float>();
  for (int64_t d = 0; d < d_n; ++d) {
    for (int64_t k = 0; k < k_n; ++k) {
      for (int64_t gate = 0; gate < gates; ++gate) {
        const int64_t onnx_gate = g.gate_order[gate];
        for (int64_t h = 0; h < h_n; ++h) {
          dst[((d * k_n + k) * gates + gate) * h_n + h] = src[(d * gates * h_n + onnx_gate * h_n + h) * k_n + k];
        }
      }
    }
  }
  return out;
}

kernels::ConstTensorPtr Bias(const core::Tensor* onnx, const Geometry& g) {
  const int64_t gates = static_cast<int64_t>(g.gate_order.size()), h_n = g.params.hidden;
  const bool lbr = g.params.cell == RnnParams::Cell::kLbrGru;
  const int64_t out_gates = lbr ? gates + 1 : gates;
  auto out = std::make_shared<core::Tensor>(core::DataType::kFloat32, core::Dims{g.d, out_gates, h_n});
  if (onnx == nullptr) return out;  // zero-initialised
  const absl::Span<const float> src = onnx->span<float>();
  absl::Span<float> dst = out->span<float>();
  for (int64_t d = 0; d < g.d; ++d) {
    const float* wb = src.data() + d * 2 * gates * h_n;
    const float* rb = wb + gates * h_n;
    for (int64_t gate = 0; gate < gates; ++gate) {
      const int64_t og = g.gate_order[gate];
      const bool keep_apart = lbr && gate == 2;  // oneDNN adds Rb_h inside r * (...)
      for (int64_t h = 0; h < h_n; ++h) {
        dst[(d * out_gates + gate) * h_n + h] = wb[og * h_n + h] + (keep_apart ? 0.0f : rb[og * h_n + h]);
      }
    }
    if (lbr) {
      for (int64_t h = 0; h < h_n; ++h) dst[(d * out_gates + gates) * h_n + h] = rb[2 * h_n + h];
    }
  }
  return out;
}

// ONNX P [D, 3H] in i o f order -> oneDNN [D, 3, H] in i f o order.
kernels::ConstTensorPtr Peephole(const core::Tensor& onnx, const Geometry& g) {
  const int64_t h_n = g.params.hidden;
  constexpr std::array<int64_t, 3> kOrder = {0, 2, 1};
  auto out = std::make_shared<core::Tensor>(core::DataType::kFloat32, core::Dims{g.d, 3, h_n});
  const absl::Span<const float> src = onnx.span<float>();
  absl::Span<float> dst = out->span<float>();
  for (int64_t d = 0; d < g.d; ++d) {
    for (int64_t k = 0; k < 3; ++k) {
      for (int64_t h = 0; h < h_n; ++h) dst[(d * 3 + k) * h_n + h] = src[(d * 3 + kOrder[k]) * h_n + h];
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferRecurrent(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Geometry g, Resolve(ctx));
  std::vector<core::Dims> out = {g.y, g.state};
  if (g.params.cell == RnnParams::Cell::kLstm) out.push_back(g.state);
  return out;
}

absl::StatusOr<Lowering> LowerRecurrent(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Geometry g, Resolve(ctx));
  RnnParams& p = g.params;
  p.weights_layer = ToLdigo(*ctx.constant(1), g);
  p.weights_iter = ToLdigo(*ctx.constant(2), g);
  p.bias = Bias(ctx.constant(3), g);
  if (p.cell == RnnParams::Cell::kLstm && ctx.has_input(7)) p.peephole = Peephole(*ctx.constant(7), g);
  Lowering l;
  l.runtime_inputs = {0};
  l.one_step = true;
  const bool lstm = p.cell == RnnParams::Cell::kLstm;
  for (int i : lstm ? std::vector<int>{5, 6} : std::vector<int>{5}) {
    if (!ctx.has_input(i)) continue;
    const bool runtime = !ctx.graph.IsConstant(ctx.node.inputs[i]);
    if (runtime) l.runtime_inputs.push_back(i);
    (i == 5 ? p.runtime_initial_h : p.runtime_initial_c) = runtime;
    if (!runtime) (i == 5 ? p.initial_h : p.initial_c) = ctx.shared_constant(i);
  }
  l.params = std::move(p);
  return l;
}

}  // namespace q8::engine::ops
