// What the engine tells kernels/ to build, as plain data: one params struct per
// op kind, gathered in the KernelParams variant. No oneDNN types appear here,
// so engine/ compiles without dnnl headers. Adding an op kind = one struct
// here + one Create overload in kernels/ (a missing one is a compile error).
#pragma once

#include <cstdint>
#include <memory>
#include <variant>
#include <vector>

#include "core/tensor.h"
#include "kernels/data_ops.h"

namespace q8::kernels {

// Constant tensors are shared: plans for several batch sizes of one model
// point at the same weights.
using ConstTensorPtr = std::shared_ptr<const core::Tensor>;

// Element-wise activation, used both standalone and fused as a post-op.
// Each kind maps to one oneDNN eltwise algorithm or to a short chain of them
// (kHardSigmoid, kSelu); alpha/beta are per kind:
//   kRelu: alpha = negative slope (LeakyRelu)   kLinear: alpha*x + beta
//   kElu: alpha   kPow: alpha * x^beta   kSwish: x*sigmoid(alpha*x)
//   kHardSigmoid: clip(alpha*x + beta, 0, 1)   kSelu: beta*elu_alpha(x)
struct Activation {
  enum class Kind {
    kRelu,
    kClip,
    kSigmoid,
    kTanh,
    kExp,
    kLog,
    kSqrt,
    kAbs,
    kSquare,
    kLinear,
    kElu,
    kSoftplus,
    kMish,
    kRound,
    kPow,
    kHardSwish,
    kHardSigmoid,
    kGeluErf,
    kGeluTanh,
    kSwish,
    kSelu
  };
  Kind kind = Kind::kRelu;
  float lo = 0.0f;  // kClip lower bound
  float hi = 0.0f;  // kClip upper bound
  float alpha = 0.0f;
  float beta = 0.0f;
};

// Weights quantized by the engine: symmetric s8, one scale per output
// channel (real weight = scale[oc] * q). The kernel never re-quantizes.
struct QuantizedWeights {
  ConstTensorPtr values;      // s8, same dims as the float weights would have
  std::vector<float> scales;  // one per output channel (OC for conv, N for matmul)
  // MatMul only: sum over K of each column of `values` (MatMulColumnSums),
  // needed when input 0 has a zero point (folded into the bias). Kept here
  // because the engine drops `values` once the first plan cached them.
  std::vector<int32_t> column_sums;
};

// Per column n of an s8 [K, N] tensor: sum over k of values[k, n].
std::vector<int32_t> MatMulColumnSums(const core::Tensor& s8_kn);

// How the int8 kernels learn about quantization: every int8 value carries
// its scale in its ValueSpec (real = scale * q, zero point 0; u8 for
// non-negative tensors, s8 otherwise), so a kernel derives its requantization
// from its input and output specs. f32 values ignore the scale.

// 2-D convolution, ONNX semantics. Input 0 is NCHW-logical [N,C,H,W].
// fp32 when input 0 is f32 (uses `weights`); int8 when input 0 is u8/s8
// (uses `qweights`; output may be u8, s8 or f32). `dynamic`: input 0 and
// the output stay f32; the input is quantized per run from its own range
// (u8, per-tensor scale and zero point) and convolved with `qweights`.
struct ConvParams {
  ConstTensorPtr weights;     // f32 [OC, IC/groups, KH, KW]; null for int8
  QuantizedWeights qweights;  // int8 only
  // Identifies the weights inside one model's WeightCache. Non-zero ids let
  // the engine drop `weights`/`qweights.values` once a Program holds a
  // reordered copy; later Programs then reorder from that copy.
  uint64_t weights_id = 0;
  ConstTensorPtr bias;              // f32 [OC] (real units) or null
  std::vector<int64_t> strides;     // {sh, sw}
  std::vector<int64_t> dilations;   // ONNX convention: 1 = dense
  std::vector<int64_t> pads_begin;  // {top, left}
  std::vector<int64_t> pads_end;    // {bottom, right}
  int64_t groups = 1;
  // Residual add fused as oneDNN's sum post-op: input 1 holds the tensor to
  // add and shares the output's storage (the planner arranges it), so the
  // conv accumulates into it. Applied before `post_ops`.
  bool accumulate = false;
  bool dynamic = false;
  std::vector<Activation> post_ops;
  // f32 only: weights (and bias) that a request sends or the graph computes.
  // The step then reads them as further inputs after the residual: W plain
  // f32 [OC, IC/groups, k...], B f32 [OC]; `weights` / `bias` stay null.
  bool runtime_weights = false;
  bool runtime_bias = false;
};

// Y = alpha * A x B + bias, then post-ops. A is input 0 ([..., M, K]).
// B is `weights` ([K, N], already transposed by the engine) when constant,
// otherwise input 1 ([..., K, N]). Leading dims broadcast as in ONNX MatMul.
// int8 when input 0 is u8/s8 (static quantization, `qweights` [K, N] with
// per-N scales). `dynamic`: input 0 stays f32 and is quantized per run from
// its observed range (per-tensor), then multiplied with `qweights`; output f32.
struct MatMulParams {
  ConstTensorPtr weights;  // f32 [K, N] or null (then B is input 1)
  QuantizedWeights qweights;
  uint64_t weights_id = 0;  // see ConvParams::weights_id
  ConstTensorPtr bias;      // f32 [N] (real units) or null
  float alpha = 1.0f;
  bool dynamic = false;
  // Residual add fused (see ConvParams::accumulate): constant weights only;
  // input 1 holds the residual and shares the output's storage. Static int8
  // and bf16 write it as f32 (the residual stream of a transformer stays f32).
  bool accumulate = false;
  std::vector<Activation> post_ops;
};

// Max / average pooling over H, W; global average pooling uses kernel = H, W.
struct PoolParams {
  enum class Kind { kMax, kAverage };
  Kind kind = Kind::kMax;
  std::vector<int64_t> kernel;      // {kh, kw}
  std::vector<int64_t> strides;     // {sh, sw}
  std::vector<int64_t> dilations;   // ONNX convention: 1 = dense
  std::vector<int64_t> pads_begin;  // {top, left}
  std::vector<int64_t> pads_end;    // {bottom, right}, already grown for ceil_mode
  bool count_include_pad = false;   // average only
};

struct EltwiseParams {
  Activation op;
};

// out = in0 (op) in1, with in1 broadcast to in0's dims (equal rank; each dim
// of in1 is 1 or equal to in0's). in1 is `constant` when set, else input 1.
// Comparisons (kEqual..kLessOrEqual) write 1.0 / 0.0.
struct BinaryParams {
  enum class Kind { kAdd, kMul, kSub, kDiv, kMax, kMin, kEqual, kGreater, kGreaterOrEqual, kLess, kLessOrEqual };
  Kind kind = Kind::kAdd;
  ConstTensorPtr constant;  // any float tensor broadcastable to in0, or null
  std::vector<Activation> post_ops;
};

struct SoftmaxParams {
  int axis = -1;     // already normalised to [0, rank) by the engine
  bool log = false;  // LogSoftmax
  // Before opset 13: the input is viewed as 2-D [prod(dims[:axis]),
  // prod(dims[axis:])] and normalised along its second dim.
  bool flatten_from_axis = false;
};

// Reduction over `axes` (normalised, sorted, unique). The output holds the
// input's element count divided by the reduced extents; keepdims only
// changes its dims, not its bytes (plain layout).
struct ReductionParams {
  enum class Kind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum };
  Kind kind = Kind::kSum;
  std::vector<int64_t> axes;
};

// PRelu with a constant slope (oneDNN prelu): y = x < 0 ? slope * x : x,
// slope broadcast to input 0 (left-padded with 1s).
struct PReluParams {
  ConstTensorPtr slope;  // f32
};

// LayerNormalization: normalise over dims [axis, rank) of input 0, then
// scale (and shift) by constants whose element count is that extent.
struct LayerNormParams {
  int axis = -1;  // normalised
  float epsilon = 1e-5f;
  ConstTensorPtr scale;  // f32, required
  ConstTensorPtr bias;   // f32 or null
};

// InstanceNormalization on [N, C, ...]: per (n, c) statistics. A null scale
// or bias is read from the step's next runtime input (f32 [C]), scale first.
struct InstanceNormParams {
  float epsilon = 1e-5f;
  ConstTensorPtr scale, bias;  // f32 [C]
};

// LRN across channels (ONNX convention: alpha is divided by size).
struct LrnParams {
  int64_t size = 1;
  float alpha = 1e-4f, beta = 0.75f, bias = 1.0f;
};

// Element-wise math in plain C++ (vectorisable loops, plain layout) where
// oneDNN has no algorithm or no broadcasting form. Unary kinds read input 0.
// Binary kinds (kPow and up) read operands a and b, each broadcast
// (numpy-style) to the output's dims; one of them may be `constant`.
struct MathParams {
  enum class Kind {
    kErf,
    kFloor,
    kCeil,
    kSoftsign,
    kThresholdedRelu,
    kCelu,
    kSign,
    kSin,
    kCos,
    kTan,
    kAsin,
    kAcos,
    kAtan,
    kSinh,
    kCosh,
    kAsinh,
    kAcosh,
    kAtanh,
    kShrink,
    kIsNaN,
    kIsInf,
    kPow,
    kPRelu,
    kAdd,
    kSub,
    kMul,
    kDiv,
    kMax,
    kMin,
    kEqual,
    kGreater,
    kGreaterOrEqual,
    kLess,
    kLessOrEqual
  };
  Kind kind = Kind::kErf;
  // kThresholdedRelu threshold, kCelu alpha, kShrink lambd; kIsInf: != 0
  // detects +inf (alpha) and -inf (beta). kShrink bias is beta. kIsNaN /
  // kIsInf write 1.0 / 0.0 (a BOOL travelling as FP32).
  float alpha = 0.0f;
  float beta = 0.0f;
  ConstTensorPtr constant;   // f32 binary operand, or null
  int constant_operand = 1;  // 0: constant is a, 1: constant is b
};
inline bool IsBinaryMath(MathParams::Kind k) { return k >= MathParams::Kind::kPow; }

struct ConcatParams {
  int axis = 1;  // normalised
};

// Inference batch norm on [N,C,...] when it could not be folded into a conv.
// A null parameter is read from the step's next runtime input (f32 [C]), in
// the order scale, bias, mean, variance.
struct BatchNormParams {
  ConstTensorPtr scale, bias, mean, variance;  // f32 [C]
  float epsilon = 1e-5f;
};

// Copies input 0 into output 0, converting layout and data type: f32 -> int8
// quantizes (q = round(x / out.scale), saturated), int8 -> f32 dequantizes
// (x = in.scale * q), int8 -> int8 requantizes (scale in.scale / out.scale).
struct ReorderParams {};

// Output = input permuted: out.dims[i] = in.dims[perm[i]].
struct TransposeParams {
  std::vector<int64_t> perm;
};

// Transposed convolution (ONNX ConvTranspose), 1-D to 3-D, f32, constant
// weights in ONNX's layout [IC, OC/groups, k...]. out = (in - 1) * stride +
// (k - 1) * dilation + 1 - pads_begin - pads_end; output_padding arrives
// folded into pads_end (which may then be negative).
struct DeconvParams {
  ConstTensorPtr weights;
  ConstTensorPtr bias;  // f32 [OC] or null
  std::vector<int64_t> strides, dilations, pads_begin, pads_end;
  int64_t groups = 1;
  // Weights / bias a request sends: read as inputs 1 (W, plain f32
  // [IC, OC/groups, k...]) and then B ([OC]); `weights` / `bias` stay null.
  bool runtime_weights = false;
  bool runtime_bias = false;
};

// A plain C++ data op (kernels/data_ops.h) as a step. operands[i] is the
// op's input i when it is a constant; null slots read the step's runtime
// inputs, in order.
struct DataOpParams {
  DataOp op;
  std::vector<ConstTensorPtr> operands;
};

// One ONNX LSTM / GRU / RNN layer, f32, on oneDNN's RNN primitives
// (inference). The engine reorders the weights once, at load, into oneDNN's
// gate order (LSTM i f c o; GRU u r o = ONNX z r h) and layouts:
//   weights_layer [D, I, G, H], weights_iter [D, H, G, H] (ldigo without L),
//   bias [D, G', H] (G' = 4 for linear-before-reset GRU), peephole [D, 3, H]
// (i f o). Runtime inputs in ONNX's input order: X, then W, R, B (ONNX
// layouts, converted per Run by kernels/rnn_layout.h) when runtime_w /
// runtime_r / runtime_b, initial_h and initial_c when runtime_initial_h /
// runtime_initial_c, P when runtime_p; the tensors of runtime ones stay null.
// Constant initial states are in initial_h / initial_c (ONNX layout). Outputs in order: Y, Y_h, Y_c, each
// when its flag is set. batch_first is ONNX layout=1: X [N,T,I], Y [N,T,D,H],
// Y_h/Y_c [N,D,H]; otherwise X [T,N,I], Y [T,D,N,H], Y_h/Y_c [D,N,H].
struct RnnParams {
  enum class Cell { kLstm, kGru, kLbrGru, kVanilla };
  enum class Direction { kForward, kReverse, kBidirectional };
  Cell cell = Cell::kLstm;
  Direction direction = Direction::kForward;
  Activation::Kind activation = Activation::Kind::kTanh;  // kVanilla: kRelu, kTanh or kSigmoid
  bool batch_first = false;
  int64_t hidden = 0;
  ConstTensorPtr weights_layer, weights_iter, bias, peephole;
  ConstTensorPtr initial_h, initial_c;
  bool runtime_initial_h = false, runtime_initial_c = false;
  bool runtime_w = false, runtime_r = false, runtime_b = false, runtime_p = false;
  bool y = true, y_h = false, y_c = false;
};

// ONNX Resize / Upsample in plain C++ over plain f32 tensors of any rank,
// with ONNX's reference semantics: per axis, the output coordinate is mapped
// to an input coordinate by `transform` (in double, like the reference), then
// interpolated from 1 (nearest), 2 (linear) or 4 (cubic) neighbours with
// edge clamping. `scales` are the per-axis factors of the transform (given
// scales, or output/input when sizes were given). tf_crop_and_resize reads
// `roi` ([starts..., ends...], normalised) and writes extrapolation_value
// where the mapped coordinate falls outside the input.
struct ResizeParams {
  enum class Mode { kNearest, kLinear, kCubic };
  enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
  enum class Transform {
    kHalfPixel,
    kPytorchHalfPixel,
    kAlignCorners,
    kAsymmetric,
    kTfHalfPixelForNn,
    kTfCropAndResize,
    kHalfPixelSymmetric
  };
  Mode mode = Mode::kNearest;
  Nearest nearest = Nearest::kRoundPreferFloor;
  Transform transform = Transform::kHalfPixel;
  std::vector<double> scales;
  std::vector<double> roi;
  double cubic_coeff_a = -0.75;
  bool exclude_outside = false;
  float extrapolation_value = 0.0f;
};

// ONNX GridSample (opset 16, PyTorch's grid_sample semantics) in plain C++:
// input 0 X [N, C, H, W], input 1 grid [N, Ho, Wo, 2] of normalised (x, y),
// output [N, C, Ho, Wo], all plain f32.
struct GridSampleParams {
  enum class Mode { kBilinear, kNearest, kBicubic };
  enum class Padding { kZeros, kBorder, kReflection };
  Mode mode = Mode::kBilinear;
  Padding padding = Padding::kZeros;
  bool align_corners = false;
};

using KernelParams = std::variant<ConvParams, MatMulParams, PoolParams, EltwiseParams, BinaryParams, SoftmaxParams,
                                  ConcatParams, BatchNormParams, ReorderParams, TransposeParams, DataOpParams,
                                  DeconvParams, ReductionParams, LayerNormParams, InstanceNormParams, LrnParams,
                                  MathParams, PReluParams, RnnParams, ResizeParams, GridSampleParams>;

}  // namespace q8::kernels
