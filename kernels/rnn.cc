// Owns the RNN kernel (ONNX LSTM / GRU / RNN, one layer, f32): oneDNN's
// lstm_forward / gru_forward / lbr_gru_forward / vanilla_rnn_forward for
// inference. Constant weights arrive already in oneDNN's gate order and
// ldigo layout (the engine reorders them at load) and are reordered once
// more, through the WeightCache, into the packed layout the implementation
// wants. Weights, biases and peepholes a request sends are converted per Run
// (kernels/rnn_layout.h) into plain ldigo / ldgo buffers of the scratchpad,
// which the primitive is then built to read as they are.
// oneDNN's states are [L=1, D, N, H] and its output [T, N, D*H]; ONNX puts
// the direction axis elsewhere (and batch first under layout=1), so the
// kernel keeps oneDNN's states and output in its own part of the scratchpad
// and copies them to and from the ONNX tensors around the primitive.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/weight_cache_impl.h"
#include "kernels/rnn_layout.h"

namespace q8::kernels::internal {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

constexpr int64_t kAlign = 64;
int64_t AlignUp(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

struct Geometry {
  int64_t t = 0, n = 0, d = 0, h = 0, in = 0;
  bool batch_first = false;
};

// dst [D, N, H] <- ONNX state (layout 0: same order; layout 1: [N, D, H]).
void StateIn(const Geometry& g, const float* onnx, float* dnnl_state) {
  if (!g.batch_first) {
    std::memcpy(dnnl_state, onnx, sizeof(float) * g.d * g.n * g.h);
    return;
  }
  for (int64_t d = 0; d < g.d; ++d) {
    for (int64_t n = 0; n < g.n; ++n)
      std::memcpy(dnnl_state + (d * g.n + n) * g.h, onnx + (n * g.d + d) * g.h, sizeof(float) * g.h);
  }
}

void StateOut(const Geometry& g, const float* dnnl_state, float* onnx) {
  if (!g.batch_first) {
    std::memcpy(onnx, dnnl_state, sizeof(float) * g.d * g.n * g.h);
    return;
  }
  for (int64_t d = 0; d < g.d; ++d) {
    for (int64_t n = 0; n < g.n; ++n)
      std::memcpy(onnx + (n * g.d + d) * g.h, dnnl_state + (d * g.n + n) * g.h, sizeof(float) * g.h);
  }
}

// oneDNN dst_layer [T, N, D*H] -> ONNX Y [T, D, N, H] or [N, T, D, H].
void OutputOut(const Geometry& g, const float* layer, float* y) {
  for (int64_t t = 0; t < g.t; ++t) {
    for (int64_t n = 0; n < g.n; ++n) {
      for (int64_t d = 0; d < g.d; ++d) {
        const int64_t to = g.batch_first ? ((n * g.t + t) * g.d + d) * g.h : ((t * g.d + d) * g.n + n) * g.h;
        std::memcpy(y + to, layer + ((t * g.n + n) * g.d + d) * g.h, sizeof(float) * g.h);
      }
    }
  }
}

class RnnKernel : public Kernel {
 public:
  // Descs of the plain buffers runtime parameters are converted into.
  struct RuntimeDescs {
    dnnl::memory::desc weights_layer, weights_iter, bias, peephole;
  };
  RnnKernel(dnnl::primitive primitive, const dnnl::primitive_desc_base& pd, std::vector<Operand> inputs,
            std::vector<Operand> outputs, ArgMap constants, const RnnParams& p, Geometry g, const RuntimeDescs& runtime)
      : Kernel(primitive, pd, std::move(inputs), std::move(outputs), std::move(constants)),
        primitive_(std::move(primitive)),
        params_(p),
        g_(g),
        primitive_scratchpad_(pd.scratchpad_desc()) {
    const dnnl::memory::desc state = PlainDesc({1, g.d, g.n, g.h}, dt::f32);
    auto place = [&](int arg, const dnnl::memory::desc& md) {
      buffers_.push_back({arg, md, used_});
      used_ += AlignUp(static_cast<int64_t>(md.get_size()));
    };
    used_ = AlignUp(static_cast<int64_t>(primitive_scratchpad_.get_size()));
    // Every state is passed (zeros where ONNX omits the initial one): oneDNN's
    // LSTM wants its hidden and cell states together.
    place(DNNL_ARG_DST_LAYER, PlainDesc({g.t, g.n, g.d * g.h}, dt::f32));
    place(DNNL_ARG_SRC_ITER, state);
    place(DNNL_ARG_DST_ITER, state);
    if (lstm()) {
      place(DNNL_ARG_SRC_ITER_C, state);
      place(DNNL_ARG_DST_ITER_C, state);
    }
    if (p.runtime_w) place(DNNL_ARG_WEIGHTS_LAYER, runtime.weights_layer);
    if (p.runtime_r) place(DNNL_ARG_WEIGHTS_ITER, runtime.weights_iter);
    if (p.runtime_b) place(DNNL_ARG_BIAS, runtime.bias);
    if (p.runtime_p) place(DNNL_ARG_WEIGHTS_PEEPHOLE, runtime.peephole);
    set_scratchpad_desc(PlainDesc({used_}, dt::u8));
  }

  BoundArgs Bind(absl::Span<const dnnl::memory> inputs, absl::Span<const dnnl::memory> outputs,
                 const dnnl::memory& scratchpad) const override {
    BoundArgs bound = Kernel::Bind(inputs, {}, scratchpad);
    bound.extra.assign(inputs.begin(), inputs.end());
    bound.extra.insert(bound.extra.end(), outputs.begin(), outputs.end());
    char* base = static_cast<char*>(scratchpad.get_data_handle());
    bound.memories.erase(DNNL_ARG_SCRATCHPAD);
    if (primitive_scratchpad_.get_size() > 0) {
      bound.memories[DNNL_ARG_SCRATCHPAD] = dnnl::memory(primitive_scratchpad_, CpuEngine(), base);
    }
    for (const Buffer& b : buffers_) bound.memories[b.arg] = dnnl::memory(b.desc, CpuEngine(), base + b.offset);
    bound.c_args.clear();
    for (const auto& [arg, memory] : bound.memories) bound.c_args.push_back({arg, memory.get()});
    return bound;
  }

  void Execute(dnnl::stream& stream, const BoundArgs& args) const override {
    auto data = [&](int arg) { return static_cast<float*>(args.memories.at(arg).get_data_handle()); };
    size_t next_input = 1;  // runtime inputs in RnnParams' order
    auto next = [&] { return static_cast<const float*>(args.extra[next_input++].get_data_handle()); };
    const RnnShape shape{params_.cell, g_.d, g_.in, g_.h};
    if (params_.runtime_w) OnnxWeightsToLdigo(shape, g_.in, next(), data(DNNL_ARG_WEIGHTS_LAYER));
    if (params_.runtime_r) OnnxWeightsToLdigo(shape, g_.h, next(), data(DNNL_ARG_WEIGHTS_ITER));
    if (params_.runtime_b) OnnxBiasToDnnl(shape, next(), data(DNNL_ARG_BIAS));
    auto state_in = [&](bool runtime, const ConstTensorPtr& constant, int arg) {
      if (!runtime && constant == nullptr) {
        std::memset(data(arg), 0, sizeof(float) * g_.d * g_.n * g_.h);
        return;
      }
      StateIn(g_, runtime ? next() : constant->span<float>().data(), data(arg));
    };
    state_in(params_.runtime_initial_h, params_.initial_h, DNNL_ARG_SRC_ITER);
    if (lstm()) state_in(params_.runtime_initial_c, params_.initial_c, DNNL_ARG_SRC_ITER_C);
    if (params_.runtime_p) OnnxPeepholeToDnnl(shape, next(), data(DNNL_ARG_WEIGHTS_PEEPHOLE));
    ExecuteC(primitive_, stream, args.c_args);
    size_t out = inputs().size();
    auto out_ptr = [&] { return static_cast<float*>(args.extra[out++].get_data_handle()); };
    if (params_.y) OutputOut(g_, data(DNNL_ARG_DST_LAYER), out_ptr());
    if (params_.y_h) StateOut(g_, data(DNNL_ARG_DST_ITER), out_ptr());
    if (params_.y_c) StateOut(g_, data(DNNL_ARG_DST_ITER_C), out_ptr());
  }

 private:
  struct Buffer {
    int arg;
    dnnl::memory::desc desc;
    int64_t offset;
  };
  bool lstm() const { return params_.cell == RnnParams::Cell::kLstm; }

  dnnl::primitive primitive_;
  RnnParams params_;
  Geometry g_;
  dnnl::memory::desc primitive_scratchpad_;
  std::vector<Buffer> buffers_;
  int64_t used_ = 0;
};

absl::Status CheckTensor(const KernelRequest& r, const ConstTensorPtr& t, const core::Dims& dims, const char* what) {
  if (t == nullptr || !t->has_storage() || t->dtype() != core::DataType::kFloat32 || t->dims() != dims) {
    return Invalid(r, absl::StrCat(what, " must be f32 ", core::DimsToString(dims)));
  }
  return absl::OkStatus();
}

}  // namespace

KernelOr Create(const RnnParams& p, const KernelRequest& r) {
  const size_t num_inputs =
      1 + p.runtime_w + p.runtime_r + p.runtime_b + p.runtime_initial_h + p.runtime_initial_c + p.runtime_p;
  const size_t num_outputs = static_cast<size_t>(p.y) + p.y_h + p.y_c;
  Q8_RETURN_IF_ERROR(ExpectArity(r, num_inputs, num_outputs));
  for (const ValueSpec* v : r.inputs) {
    if (v->dtype != core::DataType::kFloat32 || v->layout != Layout::kPlain) return Invalid(r, "RNNs read plain f32");
  }
  for (const ValueSpec* v : r.outputs) {
    if (v->dtype != core::DataType::kFloat32 || v->layout != Layout::kPlain) return Invalid(r, "RNNs write plain f32");
  }
  const bool lstm = p.cell == RnnParams::Cell::kLstm;
  const bool peephole = p.peephole != nullptr || p.runtime_p;
  if (!lstm && (p.y_c || p.runtime_initial_c || p.initial_c != nullptr || peephole)) {
    return Invalid(r, "only LSTM has a cell state and peepholes");
  }
  const core::Dims& x = r.inputs[0]->dims;
  if (x.size() != 3 || p.hidden < 1) return Invalid(r, "X must be 3-D and hidden_size >= 1");
  Geometry g;
  g.batch_first = p.batch_first;
  g.t = p.batch_first ? x[1] : x[0];
  g.n = p.batch_first ? x[0] : x[1];
  g.d = p.direction == RnnParams::Direction::kBidirectional ? 2 : 1;
  g.h = p.hidden;
  const int64_t in = x[2];
  g.in = in;
  const RnnShape shape{p.cell, g.d, in, g.h};
  const int64_t gates = shape.gates();
  const int64_t bias_gates = shape.bias_gates();
  // Runtime parameters come in ONNX's layouts (converted per Run).
  size_t k = 1;
  auto check = [&](bool runtime, const ConstTensorPtr& t, const core::Dims& dims, const core::Dims& onnx_dims,
                   const char* what) {
    if (!runtime) return CheckTensor(r, t, dims, what);
    if (t != nullptr || r.inputs[k++]->dims != onnx_dims) {
      return Invalid(r, absl::StrCat("runtime ", what, " must be f32 ", core::DimsToString(onnx_dims)));
    }
    return absl::OkStatus();
  };
  Q8_RETURN_IF_ERROR(check(p.runtime_w, p.weights_layer, {g.d, in, gates, g.h}, {g.d, gates * g.h, in}, "W"));
  Q8_RETURN_IF_ERROR(check(p.runtime_r, p.weights_iter, {g.d, g.h, gates, g.h}, {g.d, gates * g.h, g.h}, "R"));
  Q8_RETURN_IF_ERROR(check(p.runtime_b, p.bias, {g.d, bias_gates, g.h}, {g.d, 2 * gates * g.h}, "B"));
  const core::Dims state = g.batch_first ? core::Dims{g.n, g.d, g.h} : core::Dims{g.d, g.n, g.h};
  if (p.initial_h != nullptr) Q8_RETURN_IF_ERROR(CheckTensor(r, p.initial_h, state, "initial_h"));
  if (p.initial_c != nullptr) Q8_RETURN_IF_ERROR(CheckTensor(r, p.initial_c, state, "initial_c"));
  if (p.runtime_initial_h && r.inputs[k++]->dims != state) return Invalid(r, "initial_h has the wrong dims");
  if (p.runtime_initial_c && r.inputs[k++]->dims != state) return Invalid(r, "initial_c has the wrong dims");
  if (peephole) {
    Q8_RETURN_IF_ERROR(check(p.runtime_p, p.peephole, {g.d, 3, g.h}, {g.d, 3 * g.h}, "peephole"));
  }
  const core::Dims y_dims = g.batch_first ? core::Dims{g.n, g.t, g.d, g.h} : core::Dims{g.t, g.d, g.n, g.h};
  k = 0;
  if (p.y && r.outputs[k++]->dims != y_dims) return Invalid(r, "Y has the wrong dims");
  if (p.y_h && r.outputs[k++]->dims != state) return Invalid(r, "Y_h has the wrong dims");
  if (p.y_c && r.outputs[k++]->dims != state) return Invalid(r, "Y_c has the wrong dims");

  const dnnl::memory::desc src_layer({g.t, g.n, in}, dt::f32, g.batch_first ? tag::ntc : tag::tnc);
  const dnnl::memory::desc dst_layer({g.t, g.n, g.d * g.h}, dt::f32, tag::tnc);
  const dnnl::memory::desc state_md({1, g.d, g.n, g.h}, dt::f32, tag::ldnc);
  const dnnl::memory::desc none;
  const dnnl::memory::desc& src_iter = state_md;
  const dnnl::memory::desc& dst_iter = state_md;
  const dnnl::memory::desc& src_iter_c = state_md;
  const dnnl::memory::desc& dst_iter_c = state_md;
  const dnnl::memory::desc wl_user({1, g.d, in, gates, g.h}, dt::f32, tag::ldigo);
  const dnnl::memory::desc wi_user({1, g.d, g.h, gates, g.h}, dt::f32, tag::ldigo);
  // Runtime weights are read from their plain buffers; constant ones in the layout the implementation picks.
  const dnnl::memory::desc wl_any =
      p.runtime_w ? wl_user : dnnl::memory::desc({1, g.d, in, gates, g.h}, dt::f32, tag::any);
  const dnnl::memory::desc wi_any =
      p.runtime_r ? wi_user : dnnl::memory::desc({1, g.d, g.h, gates, g.h}, dt::f32, tag::any);
  const dnnl::memory::desc bias_md({1, g.d, bias_gates, g.h}, dt::f32, tag::ldgo);
  const dnnl::memory::desc peep_md = peephole ? dnnl::memory::desc({1, g.d, 3, g.h}, dt::f32, tag::ldgo) : none;
  const dnnl::rnn_direction direction =
      p.direction == RnnParams::Direction::kForward   ? dnnl::rnn_direction::unidirectional_left2right
      : p.direction == RnnParams::Direction::kReverse ? dnnl::rnn_direction::unidirectional_right2left
                                                      : dnnl::rnn_direction::bidirectional_concat;
  constexpr auto kInference = dnnl::prop_kind::forward_inference;
  const dnnl::primitive_attr attr = MakeAttr();
  dnnl::primitive primitive;
  dnnl::memory::desc wl_target, wi_target, bias_target, peep_target;
  std::unique_ptr<dnnl::primitive_desc_base> pd_holder;
  auto keep = [&](auto pd, auto make) {
    wl_target = pd.weights_layer_desc();
    wi_target = pd.weights_iter_desc();
    bias_target = pd.bias_desc();
    primitive = make(pd);
    pd_holder = std::make_unique<dnnl::primitive_desc_base>(pd);
  };
  switch (p.cell) {
    case RnnParams::Cell::kLstm: {
      dnnl::lstm_forward::desc desc(kInference, direction, src_layer, src_iter, src_iter_c, wl_any, wi_any, peep_md,
                                    bias_md, dst_layer, dst_iter, dst_iter_c);
      dnnl::lstm_forward::primitive_desc pd(desc, attr, CpuEngine());
      peep_target = pd.weights_peephole_desc();
      keep(pd, [](const auto& d) { return dnnl::primitive(dnnl::lstm_forward(d)); });
      break;
    }
    case RnnParams::Cell::kGru: {
      dnnl::gru_forward::desc desc(kInference, direction, src_layer, src_iter, wl_any, wi_any, bias_md, dst_layer,
                                   dst_iter);
      keep(dnnl::gru_forward::primitive_desc(desc, attr, CpuEngine()),
           [](const auto& d) { return dnnl::primitive(dnnl::gru_forward(d)); });
      break;
    }
    case RnnParams::Cell::kLbrGru: {
      dnnl::lbr_gru_forward::desc desc(kInference, direction, src_layer, src_iter, wl_any, wi_any, bias_md, dst_layer,
                                       dst_iter);
      keep(dnnl::lbr_gru_forward::primitive_desc(desc, attr, CpuEngine()),
           [](const auto& d) { return dnnl::primitive(dnnl::lbr_gru_forward(d)); });
      break;
    }
    case RnnParams::Cell::kVanilla: {
      dnnl::algorithm activation;
      switch (p.activation) {
        case Activation::Kind::kTanh:
          activation = dnnl::algorithm::eltwise_tanh;
          break;
        case Activation::Kind::kRelu:
          activation = dnnl::algorithm::eltwise_relu;
          break;
        case Activation::Kind::kSigmoid:
          activation = dnnl::algorithm::eltwise_logistic;
          break;
        default:
          return Invalid(r, "vanilla RNN activation must be Tanh, Relu or Sigmoid");
      }
      dnnl::vanilla_rnn_forward::desc desc(kInference, activation, direction, src_layer, src_iter, wl_any, wi_any,
                                           bias_md, dst_layer, dst_iter);
      keep(dnnl::vanilla_rnn_forward::primitive_desc(desc, attr, CpuEngine()),
           [](const auto& d) { return dnnl::primitive(dnnl::vanilla_rnn_forward(d)); });
      break;
    }
  }
  if ((p.runtime_w && wl_target != wl_user) || (p.runtime_r && wi_target != wi_user) ||
      (p.runtime_b && bias_target != bias_md) || (p.runtime_p && peep_target != peep_md)) {
    return Invalid(r, "the RNN implementation does not read runtime parameters in plain layouts");
  }
  ArgMap constants;
  if (!p.runtime_w) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_WEIGHTS_LAYER],
                        r.weights.Get({p.weights_layer, 0, wl_user, wl_target, 0, {}}));
  }
  if (!p.runtime_r) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_WEIGHTS_ITER],
                        r.weights.Get({p.weights_iter, 0, wi_user, wi_target, 0, {}}));
  }
  if (!p.runtime_b) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_BIAS], r.weights.Get({p.bias, 0, bias_md, bias_target, 0, {}}));
  }
  if (p.peephole != nullptr) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_WEIGHTS_PEEPHOLE],
                        r.weights.Get({p.peephole, 0, peep_md, peep_target, 0, {}}));
  }
  std::vector<Operand> inputs{{DNNL_ARG_SRC_LAYER, src_layer}};
  for (size_t i = 1; i < r.inputs.size(); ++i) {
    Q8_ASSIGN_OR_RETURN(dnnl::memory::desc md, DescOf(*r.inputs[i]));
    inputs.push_back({kArgNone, md});
  }
  std::vector<Operand> outputs;
  for (const ValueSpec* v : r.outputs) {
    Q8_ASSIGN_OR_RETURN(dnnl::memory::desc md, DescOf(*v));
    outputs.push_back({kArgNone, md});
  }
  return std::make_unique<RnnKernel>(primitive, *pd_holder, std::move(inputs), std::move(outputs), std::move(constants),
                                     p, g, RnnKernel::RuntimeDescs{wl_user, wi_user, bias_md, peep_md});
}

}  // namespace q8::kernels::internal
