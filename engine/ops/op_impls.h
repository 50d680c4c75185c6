// Declarations of the per-op shape and lowering functions that op_table.cc
// lists. Internal to engine/ops.
#pragma once

#include "engine/ops/op_table.h"

namespace q8::engine::ops {

#define Q8_DECLARE_OP(Name)                                              \
  absl::StatusOr<std::vector<core::Dims>> Infer##Name(const OpContext&); \
  absl::StatusOr<Lowering> Lower##Name(const OpContext&)

Q8_DECLARE_OP(Conv);
Q8_DECLARE_OP(ConvTranspose);
Q8_DECLARE_OP(Gemm);
Q8_DECLARE_OP(MatMul);
Q8_DECLARE_OP(MaxPool);
Q8_DECLARE_OP(AveragePool);
Q8_DECLARE_OP(GlobalPool);  // GlobalAveragePool, GlobalMaxPool
Q8_DECLARE_OP(Activation);  // Relu, Clip, Sigmoid
Q8_DECLARE_OP(Binary);      // Add, Mul
Q8_DECLARE_OP(Softmax);
Q8_DECLARE_OP(BatchNormalization);
Q8_DECLARE_OP(Flatten);
Q8_DECLARE_OP(Reshape);
Q8_DECLARE_OP(Transpose);
Q8_DECLARE_OP(Concat);
Q8_DECLARE_OP(Identity);  // Identity (and inference Dropout without its mask)
Q8_DECLARE_OP(DataOp);    // data_op.cc: Gather, Slice, Pad, Expand, Tile, Where, DepthToSpace, ...
Q8_DECLARE_OP(Squeeze);
Q8_DECLARE_OP(Unsqueeze);
Q8_DECLARE_OP(Unary);   // unary_op.cc: Tanh, Exp, Erf, HardSigmoid, Shrink, IsNaN, ...
Q8_DECLARE_OP(Reduce);  // reduce_op.cc: Reduce*
Q8_DECLARE_OP(LayerNormalization);
Q8_DECLARE_OP(InstanceNormalization);
Q8_DECLARE_OP(LRN);
Q8_DECLARE_OP(PRelu);
Q8_DECLARE_OP(Recurrent);  // rnn_op.cc: LSTM, GRU, RNN
Q8_DECLARE_OP(Resize);     // resize_op.cc: Resize, Upsample
Q8_DECLARE_OP(GridSample);
Q8_DECLARE_OP(Einsum);   // einsum_op.cc: matmul-like equations -> MatMul, the rest -> EinsumOp
Q8_DECLARE_OP(Clip);     // value_op.cc: constant bounds -> Activation, runtime bounds -> ClipOp
Q8_DECLARE_OP(Dropout);  // value_op.cc: runtime training_mode or a read mask -> DropoutGateOp, else Identity
Q8_DECLARE_OP(Cast);     // value_op.cc: runtime Cast -> RoundTripCastOp
Q8_DECLARE_OP(Range);    // tensor_ops.cc: folds at load or plan time; a data-dependent Range is refused

#undef Q8_DECLARE_OP

// Activation described by a Relu / Clip / Sigmoid / Gelu node (Clip bounds
// from attributes before opset 11, from constant inputs after): what the
// fuse_activation pass folds into the producer (Gelu only into MatMul/Gemm),
// and (as the kernel's activation) what a standalone Relu / Clip / Sigmoid
// lowers to (a standalone Gelu lowers as a unary op).
absl::StatusOr<FusedActivation> FusedActivationOf(const OpContext& ctx);
absl::StatusOr<kernels::Activation> ActivationOf(const OpContext& ctx);
// The kernel post-ops of the activations fused into `n`, in order.
std::vector<kernels::Activation> PostOps(const Node& n);
// The activation of an op of unary_op.cc that maps to oneDNN eltwise
// (Tanh, LeakyRelu, HardSigmoid, Gelu...); an error for the C++-only ones.
absl::StatusOr<kernels::Activation> UnaryActivationOf(const OpContext& ctx);

// The axis `axis` of a rank-`rank` tensor in [0, rank) ([0, rank] with
// inclusive_end: Flatten); negative counts from the end.
absl::StatusOr<int64_t> NormalizeAxis(const OpContext& ctx, int64_t axis, int64_t rank, bool inclusive_end);
// Transpose's perm (default: reversed axes), checked to be a permutation.
absl::StatusOr<std::vector<int64_t>> Permutation(const OpContext& ctx);
// Concat's normalised axis, once every input is present, of one rank and
// equal outside the axis.
absl::StatusOr<int64_t> ConcatAxis(const OpContext& ctx);
// Lowering of an op whose output is input 0's bytes under new dims.
Lowering AliasLowering();
// The integers of constant input `i` (INT64 or INT32), or "not supported"
// naming `what` when that input is computed at run time.
absl::StatusOr<std::vector<int64_t>> ConstantInts(const OpContext& ctx, int i, absl::string_view what);

}  // namespace q8::engine::ops
