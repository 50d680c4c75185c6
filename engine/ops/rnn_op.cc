// LSTM, GRU and RNN (ONNX opset 7-14): one recurrent layer lowered to
// kernels::RnnParams. Constant weights are reordered here, once per model,
// from ONNX's gate order and [D, G*H, I] layout into oneDNN's (LSTM iofc ->
// ifco, peepholes iof -> ifo, GRU zrh = oneDNN's u r o) and ldigo layout,
// with the two ONNX biases summed (except the recurrent candidate bias of a
// linear-before-reset GRU, which oneDNN keeps apart); W, R, B and P that a
// request sends go to the kernel as they come, which converts them per Run
// with the same functions (kernels/rnn_layout.h). What oneDNN cannot compute is refused with the reason: clip,
// input_forget, non-default activations (vanilla RNN: Tanh/Relu/Sigmoid,
// the same for both directions), sequence_lens other than all = seq_length.
#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"
#include "kernels/rnn_layout.h"

namespace q8::engine::ops {
namespace {

using kernels::RnnParams;

struct Geometry {
  RnnParams params;  // without tensors
  int64_t t = 0, n = 0, d = 1, in = 0, gates = 1;
  core::Dims y, state;
  kernels::RnnShape shape() const { return {params.cell, d, in, params.hidden}; }
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
    defaults = {"Sigmoid", "Tanh", "Tanh"};
  } else if (op == "GRU") {
    Q8_ASSIGN_OR_RETURN(const int64_t lbr, a.GetInt("linear_before_reset", 0));
    p.cell = lbr != 0 ? RnnParams::Cell::kLbrGru : RnnParams::Cell::kGru;
    g.gates = 3;
    defaults = {"Sigmoid", "Tanh"};
  } else {
    p.cell = RnnParams::Cell::kVanilla;
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
  // Runtime W, R, B and P are checked by their dims, which are this plan's.
  auto dims_of = [&](int i) -> const core::Dims& {
    const core::Tensor* t = ctx.constant(i);
    return t != nullptr ? t->dims() : ctx.input_dims[i];
  };
  auto float_or_runtime = [&](int i) {
    const core::Tensor* t = ctx.constant(i);
    return t == nullptr || t->dtype() == core::DataType::kFloat32;
  };
  Q8_ASSIGN_OR_RETURN(const int64_t hidden_attr, a.GetInt("hidden_size", 0));
  const core::Dims& wd = dims_of(1);
  if (!float_or_runtime(1) || wd.size() != 3 || wd[0] != g.d || wd[2] != g.in || wd[1] % g.gates != 0 || wd[1] == 0) {
    return ctx.Error(absl::StrCat("W must be float32 [", g.d, ", ", g.gates, "*hidden_size, ", g.in, "], got ",
                                  core::DimsToString(wd)));
  }
  p.hidden = wd[1] / g.gates;
  if (hidden_attr != 0 && hidden_attr != p.hidden) {
    return ctx.Error(absl::StrCat("hidden_size=", hidden_attr, " but W holds ", p.hidden));
  }
  const int64_t h = p.hidden;
  if (!float_or_runtime(2) || dims_of(2) != core::Dims{g.d, g.gates * h, h}) {
    return ctx.Error(absl::StrCat("R must be float32 [", g.d, ", ", g.gates * h, ", ", h, "]"));
  }
  if (ctx.has_input(3) && (!float_or_runtime(3) || dims_of(3) != core::Dims{g.d, 2 * g.gates * h})) {
    return ctx.Error(absl::StrCat("B must be float32 [", g.d, ", ", 2 * g.gates * h, "]"));
  }
  if (ctx.has_input(4)) {
    const core::Tensor* lens = ctx.constant(4);
    // A runtime one cannot be checked per request: the load-time warm-up
    // feeds zeros, which are no full lengths.
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
  if (lstm && ctx.has_input(7) && (!float_or_runtime(7) || dims_of(7) != core::Dims{g.d, 3 * h})) {
    return ctx.Error(absl::StrCat("P must be float32 [", g.d, ", ", 3 * h, "]"));
  }
  auto present = [&](size_t k) { return ctx.node.outputs.size() > k && ctx.node.outputs[k] != kNoValue; };
  p.y = present(0);
  p.y_h = present(1);
  p.y_c = lstm && present(2);
  return g;
}

std::shared_ptr<core::Tensor> NewFloat(core::Dims dims) {
  return std::make_shared<core::Tensor>(core::DataType::kFloat32, std::move(dims));
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
  const kernels::RnnShape shape = g.shape();
  Lowering l;
  l.runtime_inputs = {0};
  l.one_step = true;
  // Kernel order: X, then the runtime ones of W, R, B, initial_h, initial_c, P.
  auto runtime = [&](int i) {
    const bool r = ctx.has_input(i) && ctx.constant(i) == nullptr;
    if (r) l.runtime_inputs.push_back(i);
    return r;
  };
  p.runtime_w = runtime(1);
  if (!p.runtime_w) {
    auto w = NewFloat({g.d, g.in, g.gates, p.hidden});
    kernels::OnnxWeightsToLdigo(shape, g.in, ctx.constant(1)->span<float>().data(), w->span<float>().data());
    p.weights_layer = std::move(w);
  }
  p.runtime_r = runtime(2);
  if (!p.runtime_r) {
    auto r = NewFloat({g.d, p.hidden, g.gates, p.hidden});
    kernels::OnnxWeightsToLdigo(shape, p.hidden, ctx.constant(2)->span<float>().data(), r->span<float>().data());
    p.weights_iter = std::move(r);
  }
  p.runtime_b = runtime(3);
  if (!p.runtime_b) {
    auto b = NewFloat({g.d, shape.bias_gates(), p.hidden});
    const core::Tensor* onnx = ctx.has_input(3) ? ctx.constant(3) : nullptr;
    kernels::OnnxBiasToDnnl(shape, onnx != nullptr ? onnx->span<float>().data() : nullptr, b->span<float>().data());
    p.bias = std::move(b);
  }
  const bool lstm = p.cell == RnnParams::Cell::kLstm;
  for (int i : lstm ? std::vector<int>{5, 6} : std::vector<int>{5}) {
    if (!ctx.has_input(i)) continue;
    const bool r = runtime(i);
    (i == 5 ? p.runtime_initial_h : p.runtime_initial_c) = r;
    if (!r) (i == 5 ? p.initial_h : p.initial_c) = ctx.shared_constant(i);
  }
  if (lstm && ctx.has_input(7)) {
    p.runtime_p = runtime(7);
    if (!p.runtime_p) {
      auto peep = NewFloat({g.d, 3, p.hidden});
      kernels::OnnxPeepholeToDnnl(shape, ctx.constant(7)->span<float>().data(), peep->span<float>().data());
      p.peephole = std::move(peep);
    }
  }
  l.params = std::move(p);
  return l;
}

}  // namespace q8::engine::ops
