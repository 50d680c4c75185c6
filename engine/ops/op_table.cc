// The op table. Order is alphabetical; a unit test walks it to check that
// every row has both functions and that names are unique.
#include "engine/ops/op_table.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "core/quote.h"
#include "engine/ops/op_impls.h"

namespace q8::engine {
namespace {

using ops::InferActivation, ops::LowerActivation;
using LP = LayoutPolicy;

// Signatures shared by several rows. Data slots of ops that constant
// evaluation also computes (shape arithmetic) accept kNumeric; the lowering
// still requires float for what reaches a kernel.
constexpr OpSignature kUnary{1, 1, 1, 1};
constexpr OpSignature kBinary{2, 2, 1, 1};
constexpr OpSignature kNumericBinary{2, 2, 1, 1, {kNumeric, kNumeric, kNumeric}};
constexpr OpSignature kNumericUnary{1, 1, 1, 1, {kNumeric, kNumeric, kNumeric}};  // Neg, Abs, Sign
constexpr OpSignature kWeightsAndBias{2, 3, 1, 1};                                // X, W, optional B/C
constexpr OpSignature kBatchNorm{5, 5, 1, 5};                                     // training outputs must be unused
constexpr OpSignature kClip{1, 3, 1, 1};                                          // optional min, max (opset >= 11)
constexpr OpSignature kDropout{1, 3, 1, 2, {kF32, kF32, kBool}, {0, 0, kBool}};   // ratio, training_mode; mask
constexpr OpSignature kMaxPool{1, 1, 1, 2};                                       // Y and the optional Indices
constexpr OpSignature kReshape{2, 2, 1, 1, {kNumeric, kI64, kI64}};
// Data-movement ops (data_op.cc) read any element type; index inputs are integers.
constexpr TypeMask kAny = ~TypeMask{0};
constexpr TypeMask kIndex = kI64 | TypeBit(core::DataType::kInt32);
constexpr OpSignature kAnyUnary{1, 1, 1, 1, {kAny, kAny, kAny}};
constexpr OpSignature kGather{2, 2, 1, 1, {kAny, kIndex, kIndex}, {0, kIndex, kIndex}};  // data, runtime indices
constexpr OpSignature kScatter{3, 3, 1, 1, {kAny, kIndex, kAny}, {0, kIndex, 0}};        // data, indices, updates
constexpr OpSignature kAnyAndShape{2, 2, 1, 1, {kAny, kI64, kI64}};                      // Expand, Tile
constexpr OpSignature kAxesInput{1, 2, 1, 1, {kAny, kI64, kI64}};                        // Squeeze, Unsqueeze
constexpr OpSignature kLogicalBinary{2, 2, 1, 1, {kBool, kBool, kBool}, {kBool, kBool, kBool}};
constexpr OpSignature kLogicalUnary{1, 1, 1, 1, {kBool, kBool, kBool}, {kBool, kBool, kBool}};
// Scores, integer targets / indices, optional FP weights (the losses, Gather-like ops).
constexpr TypeMask kFloats = kF32 | TypeBit(core::DataType::kFloat64) | TypeBit(core::DataType::kFloat16);
constexpr OpSignature kLoss{2, 3, 1, 1, {kFloats, kIndex, kFloats}, {0, kIndex, 0}};
constexpr OpSignature kVariadic{1, -1, 1, 1, {kNumeric, kNumeric, kNumeric}};  // Max/Min/Sum/Mean
constexpr OpSignature kReduce{1, 2, 1, 1, {kF32, kI64, kI64}};                 // axes input from opset 13/18
constexpr OpSignature kLayerNorm{2, 3, 1, 3};                                  // Mean/InvStdDev outputs must be unused
constexpr OpSignature kInstanceNorm{3, 3, 1, 1};
// X, W, R, B, sequence_lens (INT32), initial_h[, initial_c, P]; Y may be omitted (the importer names it).
constexpr TypeMask kRecurrentRest = kF32 | kIndex;
constexpr OpSignature kGruRnn{3, 6, 1, 2, {kF32, kF32, kRecurrentRest}};
constexpr OpSignature kLstm{3, 8, 1, 3, {kF32, kF32, kRecurrentRest}};
constexpr TypeMask kF64 = TypeBit(core::DataType::kFloat64);
constexpr OpSignature kResize{1, 4, 1, 1, {kF32, kF32 | kF64, kF32 | kF64 | kI64}};  // X, roi, scales, sizes

constexpr std::array kOps = {
    OpDef{"Abs", LP::kFollowInput, kNumericUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Acos", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Acosh", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Add", LP::kFollowInput, kNumericBinary, ops::InferBinary, ops::LowerBinary},
    OpDef{"And", LP::kPlain, kLogicalBinary, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"ArgMax", LP::kPlain, kAnyUnary, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"ArgMin", LP::kPlain, kAnyUnary, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Asin", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Asinh", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Atan", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Atanh", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"AveragePool", LP::kChannelsLast, kUnary, ops::InferAveragePool, ops::LowerAveragePool},
    OpDef{"BatchNormalization", LP::kChannelsLast, kBatchNorm, ops::InferBatchNormalization,
          ops::LowerBatchNormalization},
    OpDef{"Cast", LP::kPlain, kAnyUnary, ops::InferCast, ops::LowerCast},
    OpDef{"CastLike", LP::kPlain, {2, 2, 1, 1, {kAny, kAny, kAny}}, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Ceil", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Celu", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Clip", LP::kFollowInput, kClip, ops::InferClip, ops::LowerClip},
    OpDef{"Concat", LP::kFollowInput, {1, -1, 1, 1, {kAny, kAny, kAny}}, ops::InferConcat, ops::LowerConcat},
    OpDef{"Conv", LP::kChannelsLast, kWeightsAndBias, ops::InferConv, ops::LowerConv},
    OpDef{"ConvTranspose", LP::kChannelsLast, kWeightsAndBias, ops::InferConvTranspose, ops::LowerConvTranspose},
    OpDef{"Cos", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Cosh", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"CumSum",
          LP::kPlain,
          {2, 2, 1, 1, {kAny, kIndex, kIndex}, {0, kIndex, kIndex}},
          ops::InferDataOp,
          ops::LowerDataOp},
    OpDef{"DepthToSpace", LP::kPlain, kAnyUnary, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Div", LP::kFollowInput, kNumericBinary, ops::InferBinary, ops::LowerBinary},
    OpDef{"Dropout", LP::kFollowInput, kDropout, ops::InferDropout, ops::LowerDropout},
    OpDef{"Einsum", LP::kPlain, {1, -1, 1, 1}, ops::InferEinsum, ops::LowerEinsum},
    OpDef{"Elu", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Equal", LP::kFollowInput, kNumericBinary, ops::InferBinary, ops::LowerBinary},
    OpDef{"Erf", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Exp", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Expand", LP::kPlain, kAnyAndShape, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"EyeLike", LP::kPlain, kAnyUnary, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Flatten", LP::kPlain, kAnyUnary, ops::InferFlatten, ops::LowerFlatten},
    OpDef{"Floor", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Gather", LP::kPlain, kGather, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"GatherElements", LP::kPlain, kGather, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"GatherND", LP::kPlain, kGather, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Gelu", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Gemm", LP::kPlain, kWeightsAndBias, ops::InferGemm, ops::LowerGemm},
    OpDef{"GlobalAveragePool", LP::kChannelsLast, kUnary, ops::InferGlobalPool, ops::LowerGlobalPool},
    OpDef{"GlobalMaxPool", LP::kChannelsLast, kUnary, ops::InferGlobalPool, ops::LowerGlobalPool},
    OpDef{"Greater", LP::kFollowInput, kNumericBinary, ops::InferBinary, ops::LowerBinary},
    OpDef{"GreaterOrEqual", LP::kFollowInput, kNumericBinary, ops::InferBinary, ops::LowerBinary},
    OpDef{"GridSample", LP::kPlain, kBinary, ops::InferGridSample, ops::LowerGridSample},
    OpDef{"GRU", LP::kPlain, kGruRnn, ops::InferRecurrent, ops::LowerRecurrent},
    OpDef{"Hardmax", LP::kPlain, kUnary, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"HardSigmoid", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"HardSwish", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Identity", LP::kFollowInput, kAnyUnary, ops::InferIdentity, ops::LowerIdentity},
    OpDef{"InstanceNormalization", LP::kPlain, kInstanceNorm, ops::InferInstanceNormalization,
          ops::LowerInstanceNormalization},
    OpDef{"IsInf", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"IsNaN", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"LayerNormalization", LP::kPlain, kLayerNorm, ops::InferLayerNormalization, ops::LowerLayerNormalization},
    OpDef{"LeakyRelu", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Less", LP::kFollowInput, kNumericBinary, ops::InferBinary, ops::LowerBinary},
    OpDef{"LessOrEqual", LP::kFollowInput, kNumericBinary, ops::InferBinary, ops::LowerBinary},
    OpDef{"Log", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"LogSoftmax", LP::kPlain, kUnary, ops::InferSoftmax, ops::LowerSoftmax},
    OpDef{"LRN", LP::kFollowInput, kUnary, ops::InferLRN, ops::LowerLRN},
    OpDef{"LSTM", LP::kPlain, kLstm, ops::InferRecurrent, ops::LowerRecurrent},
    OpDef{"MatMul", LP::kPlain, kBinary, ops::InferMatMul, ops::LowerMatMul},
    OpDef{"Max", LP::kFollowInput, kVariadic, ops::InferBinary, ops::LowerBinary},
    OpDef{"MaxPool", LP::kChannelsLast, kMaxPool, ops::InferMaxPool, ops::LowerMaxPool},
    OpDef{"Mean", LP::kFollowInput, kVariadic, ops::InferBinary, ops::LowerBinary},
    OpDef{"Min", LP::kFollowInput, kVariadic, ops::InferBinary, ops::LowerBinary},
    OpDef{"Mish", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Mod", LP::kPlain, {2, 2, 1, 1, {kAny, kAny, kAny}}, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Mul", LP::kFollowInput, kNumericBinary, ops::InferBinary, ops::LowerBinary},
    OpDef{"Neg", LP::kFollowInput, kNumericUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"NegativeLogLikelihoodLoss", LP::kPlain, kLoss, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Not", LP::kPlain, kLogicalUnary, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Or", LP::kPlain, kLogicalBinary, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Pad", LP::kPlain, {1, 4, 1, 1, {kAny, kI64, kAny}}, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Pow", LP::kFollowInput, kNumericBinary, ops::InferBinary, ops::LowerBinary},
    OpDef{"PRelu", LP::kFollowInput, kBinary, ops::InferPRelu, ops::LowerPRelu},
    OpDef{"Range", LP::kPlain, {3, 3, 1, 1, {kNumeric, kNumeric, kNumeric}}, ops::InferRange, ops::LowerRange},
    OpDef{"Reciprocal", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"ReduceL1", LP::kPlain, kReduce, ops::InferReduce, ops::LowerReduce},
    OpDef{"ReduceL2", LP::kPlain, kReduce, ops::InferReduce, ops::LowerReduce},
    OpDef{"ReduceLogSum", LP::kPlain, kReduce, ops::InferReduce, ops::LowerReduce},
    OpDef{"ReduceLogSumExp", LP::kPlain, kReduce, ops::InferReduce, ops::LowerReduce},
    OpDef{"ReduceMax", LP::kPlain, kReduce, ops::InferReduce, ops::LowerReduce},
    OpDef{"ReduceMean", LP::kPlain, kReduce, ops::InferReduce, ops::LowerReduce},
    OpDef{"ReduceMin", LP::kPlain, kReduce, ops::InferReduce, ops::LowerReduce},
    OpDef{"ReduceProd", LP::kPlain, kReduce, ops::InferReduce, ops::LowerReduce},
    OpDef{"ReduceSum", LP::kPlain, kReduce, ops::InferReduce, ops::LowerReduce},
    OpDef{"ReduceSumSquare", LP::kPlain, kReduce, ops::InferReduce, ops::LowerReduce},
    OpDef{"Relu", LP::kFollowInput, kUnary, InferActivation, LowerActivation},
    OpDef{"Reshape", LP::kPlain, kReshape, ops::InferReshape, ops::LowerReshape},
    OpDef{"Resize", LP::kPlain, kResize, ops::InferResize, ops::LowerResize},
    OpDef{"RNN", LP::kPlain, kGruRnn, ops::InferRecurrent, ops::LowerRecurrent},
    OpDef{"Round", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"ScatterElements", LP::kPlain, kScatter, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"ScatterND", LP::kPlain, kScatter, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Selu", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Shrink", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Sigmoid", LP::kFollowInput, kUnary, InferActivation, LowerActivation},
    OpDef{"Sign", LP::kFollowInput, kNumericUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Sin", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Sinh", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Slice", LP::kPlain, {1, 5, 1, 1, {kAny, kIndex, kIndex}}, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Softmax", LP::kPlain, kUnary, ops::InferSoftmax, ops::LowerSoftmax},
    OpDef{"SoftmaxCrossEntropyLoss",
          LP::kPlain,
          {2, 3, 1, 2, {kFloats, kIndex, kFloats}, {0, kIndex, 0}},
          ops::InferDataOp,
          ops::LowerDataOp},
    OpDef{"Softplus", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Softsign", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"SpaceToDepth", LP::kPlain, kAnyUnary, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Split", LP::kPlain, {1, 2, 1, 1024, {kAny, kI64, kI64}}, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Sqrt", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Squeeze", LP::kPlain, kAxesInput, ops::InferSqueeze, ops::LowerSqueeze},
    OpDef{"Sub", LP::kFollowInput, kNumericBinary, ops::InferBinary, ops::LowerBinary},
    OpDef{"Sum", LP::kFollowInput, kVariadic, ops::InferBinary, ops::LowerBinary},
    OpDef{"Tan", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Tanh", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"ThresholdedRelu", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
    OpDef{"Tile", LP::kPlain, kAnyAndShape, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"TopK", LP::kPlain, {1, 2, 1, 2, {kF32, kI64, kI64}}, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Transpose", LP::kPlain, kAnyUnary, ops::InferTranspose, ops::LowerTranspose},
    OpDef{"Trilu",
          LP::kPlain,
          {1, 2, 1, 1, {kAny, kIndex, kIndex}, {0, kIndex, kIndex}},
          ops::InferDataOp,
          ops::LowerDataOp},
    OpDef{"Unsqueeze", LP::kPlain, kAxesInput, ops::InferUnsqueeze, ops::LowerUnsqueeze},
    OpDef{"Upsample", LP::kPlain, {1, 2, 1, 1}, ops::InferResize, ops::LowerResize},
    OpDef{"Where", LP::kPlain, {3, 3, 1, 1, {kBool, kAny, kAny}, {kBool, 0, 0}}, ops::InferDataOp, ops::LowerDataOp},
    OpDef{"Xor", LP::kPlain, kLogicalBinary, ops::InferDataOp, ops::LowerDataOp},
};

// Ops that only graph passes create (fuse_gelu_swish): lowered like table
// ops but neither listed as supported nor accepted from a model.
constexpr std::array kInternalOps = {
    OpDef{"Swish", LP::kFollowInput, kUnary, ops::InferUnary, ops::LowerUnary},
};

// Ops that only constant evaluation handles (passes/constant_eval.cc): their
// nodes must fold away, but their arity is still checked before evaluation.
struct NamedSignature {
  const char* op_type;
  OpSignature signature;
};
constexpr std::array kConstantOnly = {
    NamedSignature{"Constant", {0, 0, 1, 1}},
    NamedSignature{"ConstantOfShape", {1, 1, 1, 1, {kI64, kI64, kI64}}},
    NamedSignature{"Shape", kAnyUnary},
    NamedSignature{"Size", kAnyUnary},
};

// Only constants and graph inputs carry a known element type: values that
// nodes compute are typed by shape inference (runtime tensors are FP32), and
// constants folded by the passes are checked again by CheckInputTypes.
bool TypeKnown(const Graph& graph, ValueId v) {
  if (graph.IsConstant(v)) return true;
  for (const GraphInput& in : graph.inputs()) {
    if (in.value == v) return true;
  }
  return false;
}

// True for a graph input that the edge converts to FP32 from a declared
// type `sig` lets this slot read at run time (INT64 ids into Gather).
bool CarriedAsFloat(const Graph& graph, ValueId v, const OpSignature& sig, size_t slot) {
  if (graph.value(v).dtype != core::DataType::kFloat32) return false;
  for (const GraphInput& in : graph.inputs()) {
    if (in.value == v) return (sig.runtime_types[slot] & sig.input_types[slot] & TypeBit(in.dtype)) != 0;
  }
  return false;
}

absl::Status CheckTypes(const Graph& graph, const Node& node, const OpSignature& sig) {
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const ValueId v = node.inputs[i];
    if (v == kNoValue || !TypeKnown(graph, v)) continue;
    const size_t slot = std::min<size_t>(i, 2);
    const TypeMask accepted = sig.input_types[slot];
    const core::DataType dtype = graph.value(v).dtype;
    if ((accepted & TypeBit(dtype)) == 0 && !CarriedAsFloat(graph, v, sig, slot)) {
      return absl::InvalidArgumentError(
          absl::StrCat(node.Describe(), ": input ", i, " ('", core::Quote(graph.value(v).name), "') has element type ",
                       core::OipName(dtype), "; ", node.op_type, " reads ", TypeMaskNames(accepted), " there"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const OpSignature* FindSignature(absl::string_view op_type) {
  if (const OpDef* def = FindOp(op_type)) return &def->signature;
  for (const NamedSignature& s : kConstantOnly) {
    if (op_type == s.op_type) return &s.signature;
  }
  return nullptr;
}

absl::Status CheckSignature(const Graph& graph, const Node& node, int64_t opset) {
  for (const OpDef& def : kInternalOps) {
    if (node.op_type == def.op_type) {
      return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": unsupported op '", def.op_type, "'"));
    }
  }
  const OpSignature* sig = FindSignature(node.op_type);
  if (sig == nullptr) return absl::OkStatus();
  int max_inputs = sig->max_inputs;
  if (node.op_type == "Clip" && opset < 11) max_inputs = 1;  // bounds were attributes before opset 11
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": ", what));
  };
  const int num_inputs = static_cast<int>(node.inputs.size());
  if (num_inputs < sig->min_inputs || (max_inputs >= 0 && num_inputs > max_inputs)) {
    const std::string range = max_inputs < 0                  ? absl::StrCat("at least ", sig->min_inputs)
                              : sig->min_inputs == max_inputs ? absl::StrCat(max_inputs)
                                                              : absl::StrCat(sig->min_inputs, " to ", max_inputs);
    return error(absl::StrCat("has ", num_inputs, " input(s); ", node.op_type, " takes ", range));
  }
  const int num_outputs = static_cast<int>(node.outputs.size());
  if (num_outputs < sig->min_outputs || num_outputs > sig->max_outputs) {
    return error(absl::StrCat("has ", num_outputs, " output(s); ", node.op_type, " produces ",
                              sig->min_outputs == sig->max_outputs
                                  ? absl::StrCat(sig->max_outputs)
                                  : absl::StrCat(sig->min_outputs, " to ", sig->max_outputs)));
  }
  for (int i = 0; i < sig->min_outputs; ++i) {
    if (node.outputs[i] == kNoValue) return error(absl::StrCat("output ", i, " is required but has no name"));
  }
  for (int i = 0; i < num_inputs; ++i) {
    // Variadic inputs (Concat) have no optional slots.
    if (node.inputs[i] == kNoValue && (i < sig->min_inputs || max_inputs < 0)) {
      return error(absl::StrCat("input ", i, " is required but was omitted"));
    }
  }
  return CheckTypes(graph, node, *sig);
}

absl::Status CheckInputTypes(const Graph& graph, const Node& node) {
  const OpSignature* sig = FindSignature(node.op_type);
  if (sig == nullptr) return absl::OkStatus();
  return CheckTypes(graph, node, *sig);
}

const core::Tensor* OpContext::constant(int i) const {
  if (!has_input(i)) return nullptr;
  return graph.value(node.inputs[i]).constant.get();
}

std::shared_ptr<const core::Tensor> OpContext::shared_constant(int i) const {
  if (!has_input(i)) return nullptr;
  return graph.value(node.inputs[i]).constant;
}

absl::Status OpContext::Error(absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": ", what));
}

absl::Status OpContext::Unsupported(absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": not supported: ", what));
}

const OpDef* FindOp(absl::string_view op_type) {
  for (const OpDef& def : kOps) {
    if (op_type == def.op_type) return &def;
  }
  for (const OpDef& def : kInternalOps) {
    if (op_type == def.op_type) return &def;
  }
  return nullptr;
}

std::string TypeMaskNames(TypeMask mask) {
  std::string names;
  for (int t = 1; t < static_cast<int>(core::DataType::kCount); ++t) {
    if (mask & (TypeMask{1} << t)) {
      absl::StrAppend(&names, names.empty() ? "" : "/", core::OipName(static_cast<core::DataType>(t)));
    }
  }
  return names;
}

std::vector<std::string> ConstantOnlyOps() {
  std::vector<std::string> names;
  for (const NamedSignature& s : kConstantOnly) names.push_back(s.op_type);
  return names;
}

std::vector<std::string> SupportedOps() {
  std::vector<std::string> names;
  for (const OpDef& def : kOps) names.push_back(def.op_type);
  return names;
}

}  // namespace q8::engine
