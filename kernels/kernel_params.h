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

namespace q8::kernels {

// Constant tensors are shared: plans for several batch sizes of one model
// point at the same weights.
using ConstTensorPtr = std::shared_ptr<const core::Tensor>;

// Element-wise activation, used both standalone and fused as a post-op.
struct Activation {
  enum class Kind { kRelu, kClip, kSigmoid };
  Kind kind = Kind::kRelu;
  float lo = 0.0f;  // kClip lower bound
  float hi = 0.0f;  // kClip upper bound
};

// 2-D convolution, ONNX semantics. Input 0 is NCHW-logical [N,C,H,W].
struct ConvParams {
  ConstTensorPtr weights;          // f32 [OC, IC/groups, KH, KW]
  ConstTensorPtr bias;             // f32 [OC] or null
  std::vector<int64_t> strides;    // {sh, sw}
  std::vector<int64_t> dilations;  // ONNX convention: 1 = dense
  std::vector<int64_t> pads_begin; // {top, left}
  std::vector<int64_t> pads_end;   // {bottom, right}
  int64_t groups = 1;
  std::vector<Activation> post_ops;
};

// Y = alpha * A x B + bias, then post-ops. A is input 0 ([..., M, K]).
// B is `weights` ([K, N], already transposed by the engine) when constant,
// otherwise input 1 ([..., K, N]). Leading dims broadcast as in ONNX MatMul.
struct MatMulParams {
  ConstTensorPtr weights;  // f32 [K, N] or null (then B is input 1)
  ConstTensorPtr bias;     // f32 [N] or null
  float alpha = 1.0f;
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
struct BinaryParams {
  enum class Kind { kAdd, kMul };
  Kind kind = Kind::kAdd;
  ConstTensorPtr constant;  // any float tensor broadcastable to in0, or null
  std::vector<Activation> post_ops;
};

struct SoftmaxParams {
  int axis = -1;  // already normalised to [0, rank) by the engine
};

struct ConcatParams {
  int axis = 1;  // normalised
};

// Inference batch norm on [N,C,...] when it could not be folded into a conv.
struct BatchNormParams {
  ConstTensorPtr scale, bias, mean, variance;  // f32 [C]
  float epsilon = 1e-5f;
};

// Copies input 0 into output 0, converting layout (and dtype, where the
// kernels support it). Also used for graph-boundary layout changes.
struct ReorderParams {};

// Output = input permuted: out.dims[i] = in.dims[perm[i]].
struct TransposeParams {
  std::vector<int64_t> perm;
};

using KernelParams = std::variant<ConvParams, MatMulParams, PoolParams, EltwiseParams, BinaryParams,
                                  SoftmaxParams, ConcatParams, BatchNormParams, ReorderParams,
                                  TransposeParams>;

}  // namespace q8::kernels
