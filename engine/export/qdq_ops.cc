// The ONNX ops each graph node becomes, in opset 17. Float nodes keep their
// op type and the attributes opset 17 defines for it (legacy attributes of
// older opsets are dropped or, where their meaning differs, replaced by what
// the engine resolved: explicit pads for auto_pad, Softmax's axis, Clip
// bounds as inputs, reduction axes as an attribute). Ops opset 17 cannot
// state (Gelu before opset 20, Mish before 18, the internal Swish) are
// written as the elementwise ops they compute. What the passes fused into a
// node comes back out as separate ops: the residual Add of an accumulating
// Conv, then the fused activations, in the order the kernels apply them.
//
// Int8 layers (static or dynamic) become float ops over
// DequantizeLinear(int8 weights, per-channel scales): Conv keeps its
// geometry; Gemm/MatMul become MatMul(A, W[K,N]) (* alpha) + bias, because
// the quantized weights are stored already transposed. The bias is the
// layer's own (bias-corrected) one. A dynamic layer's activation stays
// float: ONNX's DynamicQuantizeLinear is u8-asymmetric, not the dynamic
// MatMul's symmetric per-request scheme, so the export reproduces the weight
// quantization exactly but not the per-request activation rounding. (The
// dynamic Conv's u8 grid is DynamicQuantizeLinear's; exporting it that way is
// not done yet.)
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/export/qdq_emitter.h"

namespace q8::engine {
namespace {

// Attributes copied as they are: the opset-17 attributes of each op.
const std::set<std::string>& CopiedAttributes(const std::string& op) {
  static const auto* table = new std::map<std::string, std::set<std::string>>{
      {"Conv", {"dilations", "group", "kernel_shape", "pads", "strides", "auto_pad"}},
      {"MaxPool", {"dilations", "kernel_shape", "pads", "strides", "ceil_mode", "auto_pad"}},
      {"AveragePool", {"kernel_shape", "pads", "strides", "ceil_mode", "count_include_pad", "auto_pad"}},
      {"Gemm", {"alpha", "beta", "transA", "transB"}},
      {"BatchNormalization", {"epsilon", "momentum"}},
      {"Flatten", {"axis"}},
      {"Concat", {"axis"}},
      {"Transpose", {"perm"}},
      {"Elu", {"alpha"}},
      {"LeakyRelu", {"alpha"}},
      {"HardSigmoid", {"alpha", "beta"}},
      {"Selu", {"alpha", "gamma"}},
      {"Celu", {"alpha"}},
      {"ThresholdedRelu", {"alpha"}},
      {"LRN", {"alpha", "beta", "bias", "size"}},
      {"InstanceNormalization", {"epsilon"}},
      {"LayerNormalization", {"axis", "epsilon"}},
      {"ReduceL1", {"axes", "keepdims"}},
      {"ReduceL2", {"axes", "keepdims"}},
      {"ReduceLogSum", {"axes", "keepdims"}},
      {"ReduceMax", {"axes", "keepdims"}},
      {"ReduceMean", {"axes", "keepdims"}},
      {"ReduceMin", {"axes", "keepdims"}},
      {"ReduceProd", {"axes", "keepdims"}},
      {"ReduceSum", {"keepdims", "noop_with_empty_axes"}},
      {"ReduceSumSquare", {"axes", "keepdims"}},
  };
  static const std::set<std::string> kNone;
  auto it = table->find(op);
  return it == table->end() ? kNone : it->second;
}

// Explicit pads for a window the engine resolved from auto_pad (and, for
// pools, already grown for ceil_mode, which is then dropped too).
std::vector<int64_t> ResolvedPads(const kernels::KernelParams& params) {
  std::vector<int64_t> pads;
  auto append = [&](const auto& p) {
    pads = p.pads_begin;
    pads.insert(pads.end(), p.pads_end.begin(), p.pads_end.end());
  };
  if (const auto* c = std::get_if<kernels::ConvParams>(&params)) append(*c);
  if (const auto* p = std::get_if<kernels::PoolParams>(&params)) append(*p);
  return pads;
}

}  // namespace

std::vector<QdqEmitter::TailOp> QdqEmitter::ActivationTail(const Node& n) {
  std::vector<TailOp> tail;
  for (const FusedActivation& a : n.fused) {
    switch (a.kind) {
      case FusedActivation::Kind::kRelu:
        tail.push_back({"Relu", {}});
        break;
      case FusedActivation::Kind::kSigmoid:
        tail.push_back({"Sigmoid", {}});
        break;
      case FusedActivation::Kind::kClip:
        tail.push_back({"Clip",
                        {w_.FloatScalar(absl::StrCat(n.name, "_clip_min"), a.lo),
                         w_.FloatScalar(absl::StrCat(n.name, "_clip_max"), a.hi)}});
        break;
      case FusedActivation::Kind::kGeluErf:
      case FusedActivation::Kind::kGeluTanh: {
        std::vector<TailOp> gelu = GeluOps(n, a.kind == FusedActivation::Kind::kGeluTanh, kActivationInput);
        gelu.front().opens_activation = true;
        tail.insert(tail.end(), gelu.begin(), gelu.end());
        break;
      }
    }
  }
  return tail;
}

std::vector<QdqEmitter::TailOp> QdqEmitter::GeluOps(const Node& n, bool tanh, const std::string& x) {
  auto scalar = [&](const char* what, float v) { return w_.FloatScalar(absl::StrCat(n.name, "_", what), v); };
  const std::string one = scalar("one", 1.0f), half = scalar("half", 0.5f);
  if (!tanh) {  // x/2 * (1 + erf(x/sqrt2))
    return {{"Div", {scalar("sqrt2", static_cast<float>(M_SQRT2))}},
            {"Erf", {}},
            {"Add", {one}},
            {"Mul", {x}},
            {"Mul", {half}}};
  }
  // x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
  return {{"Mul", {x}},
          {"Mul", {x}},
          {"Mul", {scalar("cubic", 0.044715f)}},
          {"Add", {x}},
          {"Mul", {scalar("sqrt_2_over_pi", static_cast<float>(M_2_SQRTPI * M_SQRT1_2))}},
          {"Tanh", {}},
          {"Add", {one}},
          {"Mul", {x}},
          {"Mul", {half}}};
}

onnx::NodeProto& QdqEmitter::EmitWithTail(const Node& n, const std::string& op, std::vector<std::string> ins,
                                          const std::vector<TailOp>& tail, const std::string& out) {
  std::string x = tail.empty() ? out : w_.Fresh(absl::StrCat(n.name, "_", op));
  onnx::NodeProto& main = w_.Node(op, n.name, std::move(ins), {x});
  std::string activation_input = x;
  for (size_t i = 0; i < tail.size(); ++i) {
    const std::string y = i + 1 == tail.size() ? out : w_.Fresh(absl::StrCat(n.name, "_", tail[i].op));
    if (tail[i].opens_activation) activation_input = x;
    std::vector<std::string> args{x};
    for (const std::string& e : tail[i].extra_inputs) args.push_back(e == kActivationInput ? activation_input : e);
    w_.Node(tail[i].op, absl::StrCat(n.name, "_", tail[i].op), std::move(args), {y});
    x = y;
  }
  return main;
}

std::optional<QdqEmitter::Decomposition> QdqEmitter::Decompose(int index, const std::string& op, const std::string& x) {
  const Node& n = src_.graph.nodes()[index];
  if (op == "Swish") return Decomposition{"Sigmoid", {x}, {{"Mul", {x}}}};  // alpha is 1 (fuse_gelu_swish)
  if (op == "Mish") return Decomposition{"Softplus", {x}, {{"Tanh", {}}, {"Mul", {x}}}};
  if (op != "Gelu") return std::nullopt;
  const kernels::Activation& a = std::get<kernels::EltwiseParams>(src_.fp32.lowerings[index].params).op;
  std::vector<TailOp> ops = GeluOps(n, a.kind == kernels::Activation::Kind::kGeluTanh, x);
  Decomposition d{ops.front().op, {x}, {ops.begin() + 1, ops.end()}};
  d.args.insert(d.args.end(), ops.front().extra_inputs.begin(), ops.front().extra_inputs.end());
  return d;
}

absl::Status QdqEmitter::EmitFloatOp(int index, const std::vector<std::string>& ins, const std::string& out) {
  const Node& n = src_.graph.nodes()[index];
  const kernels::KernelParams& params = src_.fp32.lowerings[index].params;
  std::string op = n.op_type == "Dropout" ? "Identity" : n.op_type;
  std::vector<std::string> args = ins;
  std::vector<TailOp> tail;
  // Recurrent ops have several outputs, Resize/Upsample/GridSample
  // opset-specific attributes: the emitter does not restate them yet.
  static const std::set<std::string> kNotExported = {"GridSample", "GRU", "LSTM", "Resize", "RNN", "Upsample"};
  if (kNotExported.count(op) > 0) {
    return absl::UnimplementedError(absl::StrCat(n.Describe(), ": no QDQ export for this op yet"));
  }
  if (std::optional<Decomposition> d = Decompose(index, op, ins[0])) {
    std::vector<TailOp> acts = ActivationTail(n);
    d->tail.insert(d->tail.end(), acts.begin(), acts.end());
    EmitWithTail(n, d->op, std::move(d->args), d->tail, out);
    return absl::OkStatus();
  }
  // Opset 18 moved the reduction axes to an input: back to the attribute.
  std::optional<std::vector<int64_t>> reduce_axes;
  if (op.rfind("Reduce", 0) == 0 && op != "ReduceSum" && ins.size() > 1 && !ins[1].empty()) {
    const core::Tensor& axes = *src_.graph.value(n.inputs[1]).constant;
    reduce_axes.emplace(axes.span<int64_t>().begin(), axes.span<int64_t>().end());
    args.resize(1);
  }
  const auto* softmax = std::get_if<kernels::SoftmaxParams>(&params);
  if (softmax != nullptr && softmax->flatten_from_axis) {
    return absl::UnimplementedError(
        absl::StrCat(n.Describe(), ": no opset-17 QDQ export for the opset < 13 ", n.op_type, " (2-D coercion) yet"));
  }
  if (op == "MatMul" && args.size() > 2) {  // bias (fuse_matmul_bias), residual (fuse_residual_add)
    if (!ins[2].empty()) tail.push_back({"Add", {ins[2]}});
    if (n.accumulate) tail.push_back({"Add", {ins[3]}});
    args.resize(2);
  } else if (op == "Conv") {
    args.resize(3);  // input 3 is the fused residual
    if (n.accumulate) tail.push_back({"Add", {ins[3]}});
  } else if (op == "BatchNormalization") {
    args.resize(5);
  } else if (op == "Identity") {
    args.resize(1);
  } else if (op == "Clip") {
    // Bounds as inputs (opset >= 11), whatever the source opset used.
    const kernels::Activation& a = std::get<kernels::EltwiseParams>(params).op;
    args = {ins[0], w_.FloatScalar(absl::StrCat(n.name, "_min"), a.lo),
            w_.FloatScalar(absl::StrCat(n.name, "_max"), a.hi)};
  } else if (op == "Reshape") {
    Q8_ASSIGN_OR_RETURN(int64_t allowzero, n.attrs.GetInt("allowzero", 0));
    const core::Tensor& shape = *src_.graph.value(n.inputs[1]).constant;
    auto dims = shape.span<int64_t>();
    if (allowzero != 0 && std::find(dims.begin(), dims.end(), 0) != dims.end()) {
      return absl::UnimplementedError(absl::StrCat(n.Describe(),
                                                   ": Reshape allowzero=1 with a 0 in the shape "
                                                   "has no opset-17 equivalent"));
    }
  }
  std::vector<TailOp> acts = ActivationTail(n);
  tail.insert(tail.end(), acts.begin(), acts.end());
  onnx::NodeProto& main = EmitWithTail(n, op, std::move(args), tail, out);

  const std::set<std::string>& copied = CopiedAttributes(op);
  Q8_ASSIGN_OR_RETURN(std::string auto_pad, n.attrs.GetString("auto_pad", "NOTSET"));
  const bool resolve_pads = auto_pad != "NOTSET";
  for (const auto& [name, value] : n.attrs.all()) {
    if (!copied.count(name)) continue;
    if (resolve_pads && (name == "auto_pad" || name == "pads" || name == "ceil_mode")) continue;
    OnnxGraphWriter::SetAttribute(main, name, value);
  }
  if (reduce_axes) OnnxGraphWriter::SetAttribute(main, "axes", *reduce_axes);
  if (resolve_pads) OnnxGraphWriter::SetAttribute(main, "pads", ResolvedPads(params));
  if (op == "Softmax" || op == "LogSoftmax") {
    // Normalised by the engine, so an old-opset default (1) reads the same in opset 17.
    OnnxGraphWriter::SetAttribute(main, "axis", int64_t{std::get<kernels::SoftmaxParams>(params).axis});
  }
  return absl::OkStatus();
}

absl::Status QdqEmitter::EmitLayer(int index, const LayerQuant& lq, const std::vector<std::string>& ins,
                                   const std::string& out) {
  const Node& n = src_.graph.nodes()[index];
  const kernels::KernelParams& params = src_.fp32.lowerings[index].params;
  const bool conv = std::holds_alternative<kernels::ConvParams>(params);
  if (!conv && !std::holds_alternative<kernels::MatMulParams>(params)) {
    return absl::InternalError(absl::StrCat(n.Describe(), " is quantized but is neither a Conv nor a matmul"));
  }
  if (lq.qweights == nullptr) return absl::InternalError(absl::StrCat(n.Describe(), ": no int8 weights"));
  const std::string w =
      w_.DequantizedWeights(absl::StrCat(n.name, "_weight"), *lq.qweights, lq.weight_scales, conv ? 0 : 1);
  // The layer's bias as the kernel uses it: the quantizer's when it set one.
  const kernels::ConstTensorPtr& float_bias =
      conv ? std::get<kernels::ConvParams>(params).bias : std::get<kernels::MatMulParams>(params).bias;
  const kernels::ConstTensorPtr& bias = lq.bias != nullptr ? lq.bias : float_bias;
  const std::string b = bias != nullptr ? w_.Initializer(absl::StrCat(n.name, "_bias"), *bias) : "";
  std::vector<TailOp> tail;
  if (conv) {
    if (n.accumulate) tail.push_back({"Add", {ins[3]}});
  } else {
    // alpha * (A x W) + bias, as the matmul kernel computes it.
    const float alpha = std::get<kernels::MatMulParams>(params).alpha;
    if (alpha != 1.0f) tail.push_back({"Mul", {w_.FloatScalar(absl::StrCat(n.name, "_alpha"), alpha)}});
    if (!b.empty()) tail.push_back({"Add", {b}});
    if (n.accumulate) tail.push_back({"Add", {ins[3]}});
  }
  std::vector<TailOp> acts = ActivationTail(n);
  tail.insert(tail.end(), acts.begin(), acts.end());
  if (!conv) {
    EmitWithTail(n, "MatMul", {ins[0], w}, tail, out);
    return absl::OkStatus();
  }
  onnx::NodeProto& main = EmitWithTail(n, "Conv", {ins[0], w, b}, tail, out);
  // Geometry from the node, with auto_pad resolved as for float Conv.
  const auto& p = std::get<kernels::ConvParams>(params);
  std::vector<int64_t> pads = ResolvedPads(params);
  OnnxGraphWriter::SetAttribute(main, "strides", p.strides);
  OnnxGraphWriter::SetAttribute(main, "dilations", p.dilations);
  OnnxGraphWriter::SetAttribute(main, "pads", pads);
  OnnxGraphWriter::SetAttribute(main, "group", int64_t{p.groups});
  return absl::OkStatus();
}

}  // namespace q8::engine
