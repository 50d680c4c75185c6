// Softmax / LogSoftmax, (unfolded) BatchNormalization, LayerNormalization,
// InstanceNormalization and LRN.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"

namespace q8::engine::ops {
namespace {

absl::StatusOr<int> SoftmaxAxis(const OpContext& ctx) {
  const int64_t rank = ctx.input_dims[0].size();
  // Before opset 13 the default axis was 1 and the input was coerced to 2-D
  // at the axis; that equals a last-axis softmax only when axis == rank-1.
  Q8_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attrs.GetInt("axis", ctx.opset < 13 ? 1 : -1));
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= std::max<int64_t>(rank, 1)) return ctx.Error("axis is out of range");
  return static_cast<int>(axis);
}

absl::Status CheckBatchNorm(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(int64_t training, ctx.node.attrs.GetInt("training_mode", 0));
  if (training != 0) return ctx.Unsupported("training_mode=1");
  const core::Dims& x = ctx.input_dims[0];
  if (x.size() < 2) return ctx.Error("input must have a channel dimension");
  // Runtime ones (oneDNN takes all four as execution arguments) are checked
  // by their dims, which are this plan's.
  for (int i = 1; i <= 4; ++i) {
    const core::Tensor* t = ctx.constant(i);
    const bool ok = t != nullptr ? t->num_elements() == x[1] && t->dtype() == core::DataType::kFloat32
                                 : ctx.input_dims[i] == core::Dims{x[1]};
    if (!ok) return ctx.Error(absl::StrCat("scale, bias, mean and variance must be float32 [", x[1], "]"));
  }
  for (size_t i = 1; i < ctx.node.outputs.size(); ++i) {
    if (ctx.node.outputs[i] != kNoValue && !ctx.graph.Consumers(ctx.node.outputs[i]).empty()) {
      return ctx.Unsupported("running mean/variance outputs");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferSoftmax(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(SoftmaxAxis(ctx).status());
  return std::vector<core::Dims>{ctx.input_dims[0]};
}

absl::StatusOr<Lowering> LowerSoftmax(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(int axis, SoftmaxAxis(ctx));
  kernels::SoftmaxParams p;
  p.axis = axis;
  p.log = ctx.node.op_type == "LogSoftmax";
  // Before opset 13 the input was coerced to 2-D at the axis; that equals a
  // one-axis softmax only when axis == rank-1.
  p.flatten_from_axis = ctx.opset < 13 && axis + 1 != static_cast<int>(ctx.input_dims[0].size());
  Lowering l;
  l.params = p;
  l.runtime_inputs = {0};
  return l;
}

absl::StatusOr<std::vector<core::Dims>> InferBatchNormalization(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(CheckBatchNorm(ctx));
  return std::vector<core::Dims>{ctx.input_dims[0]};
}

absl::StatusOr<Lowering> LowerBatchNormalization(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(CheckBatchNorm(ctx));
  kernels::BatchNormParams p;
  p.scale = ctx.shared_constant(1);
  p.bias = ctx.shared_constant(2);
  p.mean = ctx.shared_constant(3);
  p.variance = ctx.shared_constant(4);
  Q8_ASSIGN_OR_RETURN(p.epsilon, ctx.node.attrs.GetFloat("epsilon", 1e-5f));
  Lowering l;
  l.params = std::move(p);
  l.runtime_inputs = {0};
  for (int i = 1; i <= 4; ++i) {
    if (ctx.constant(i) == nullptr) l.runtime_inputs.push_back(i);
  }
  return l;
}

namespace {

bool RuntimeScaleOrBias(const OpContext& ctx) {
  return (ctx.has_input(1) && ctx.constant(1) == nullptr) || (ctx.has_input(2) && ctx.constant(2) == nullptr);
}

absl::StatusOr<kernels::LayerNormParams> ReadLayerNorm(const OpContext& ctx) {
  const int64_t rank = ctx.input_dims[0].size();
  kernels::LayerNormParams p;
  Q8_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attrs.GetInt("axis", -1));
  Q8_ASSIGN_OR_RETURN(p.epsilon, ctx.node.attrs.GetFloat("epsilon", 1e-5f));
  Q8_ASSIGN_OR_RETURN(int64_t stash, ctx.node.attrs.GetInt("stash_type", 1));
  if (stash != 1) return ctx.Unsupported("stash_type other than float");
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return ctx.Error("axis is out of range");
  p.axis = static_cast<int>(axis);
  const core::Dims normalized(ctx.input_dims[0].begin() + axis, ctx.input_dims[0].end());
  if (RuntimeScaleOrBias(ctx)) {
    // The plain C++ LayerNormOp reads them per request; only the dims are checked here.
    for (int i = 1; i <= 2; ++i) {
      core::Dims b;
      if (ctx.has_input(i) && (!core::BroadcastShapes(ctx.input_dims[i], normalized, &b) || b != normalized)) {
        return ctx.Error(absl::StrCat("Scale and B must broadcast to ", core::DimsToString(normalized)));
      }
    }
    return p;
  }
  for (int i = 1; i <= 2; ++i) {
    if (!ctx.has_input(i)) continue;
    const core::Tensor* t = ctx.constant(i);
    core::Dims b;
    if (t->dtype() != core::DataType::kFloat32 || !core::BroadcastShapes(t->dims(), normalized, &b) ||
        b != normalized) {
      return ctx.Error(absl::StrCat("Scale and B must be float32 broadcastable to ", core::DimsToString(normalized)));
    }
    // Expand a broadcast Scale/B to the normalized extent.
    std::shared_ptr<const core::Tensor> full = ctx.shared_constant(i);
    if (t->num_elements() != core::NumElements(normalized)) {
      auto e = std::make_shared<core::Tensor>(core::DataType::kFloat32, normalized);
      auto dst = e->span<float>();
      for (size_t k = 0; k < dst.size(); ++k) dst[k] = t->span<float>()[k % t->num_elements()];
      if (t->num_elements() != 1 && t->num_elements() != normalized.back()) {
        return ctx.Unsupported("Scale / B broadcast other than scalar or over the last axis");
      }
      full = std::move(e);
    }
    (i == 1 ? p.scale : p.bias) = std::move(full);
  }
  return p;
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferLayerNormalization(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(kernels::LayerNormParams p, ReadLayerNorm(ctx));
  std::vector<core::Dims> dims = {ctx.input_dims[0]};
  // Mean and InvStdDev: x's dims with the normalized axes kept as 1.
  core::Dims stats = ctx.input_dims[0];
  for (size_t d = p.axis; d < stats.size(); ++d) stats[d] = 1;
  for (size_t k = 1; k < ctx.node.outputs.size(); ++k) dims.push_back(stats);
  return dims;
}

absl::StatusOr<Lowering> LowerLayerNormalization(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(kernels::LayerNormParams p, ReadLayerNorm(ctx));
  Lowering l;
  l.runtime_inputs = {0};
  std::vector<kernels::ConstTensorPtr> operands = {nullptr};
  if (RuntimeScaleOrBias(ctx)) {
    // Runtime Scale / B: the plain C++ kernel (oneDNN's takes them as constants).
    kernels::DataOpParams full;
    full.op.emplace<kernels::ValueOp>(kernels::LayerNormOp{p.axis, p.epsilon, ctx.has_input(2)});
    for (int i = 1; i <= 2; ++i) {
      if (!ctx.has_input(i)) continue;
      if (ctx.constant(i) == nullptr) l.runtime_inputs.push_back(i);
      full.operands.push_back(ctx.shared_constant(i));
    }
    full.operands.insert(full.operands.begin(), nullptr);
    operands = full.operands;
    l.params = std::move(full);
  } else {
    l.params = p;
  }
  // Mean / InvStdDev (plain C++, kernels/value_ops.h): one step each, over
  // the same inputs (the statistics read only x).
  for (size_t k = 1; k < ctx.node.outputs.size(); ++k) {
    kernels::DataOpParams stats;
    stats.op.emplace<kernels::ValueOp>(kernels::LayerNormStatsOp{p.axis, p.epsilon, k == 2});
    stats.operands = operands;
    l.more_outputs.push_back(std::move(stats));
  }
  return l;
}

absl::StatusOr<std::vector<core::Dims>> InferInstanceNormalization(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  if (x.size() < 3) return ctx.Error("input must be [N, C, D1, ...]");
  for (int i = 1; i <= 2; ++i) {
    const core::Tensor* t = ctx.constant(i);
    const bool ok = t != nullptr ? t->dtype() == core::DataType::kFloat32 && t->dims() == core::Dims{x[1]}
                                 : ctx.input_dims[i] == core::Dims{x[1]};
    if (!ok) return ctx.Error(absl::StrCat("scale and B must be float32 [", x[1], "]"));
  }
  return std::vector<core::Dims>{x};
}

absl::StatusOr<Lowering> LowerInstanceNormalization(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(InferInstanceNormalization(ctx).status());
  kernels::InstanceNormParams p;
  Q8_ASSIGN_OR_RETURN(p.epsilon, ctx.node.attrs.GetFloat("epsilon", 1e-5f));
  p.scale = ctx.shared_constant(1);
  p.bias = ctx.shared_constant(2);
  Lowering l;
  l.params = std::move(p);
  l.runtime_inputs = {0};
  for (int i = 1; i <= 2; ++i) {
    if (ctx.constant(i) == nullptr) l.runtime_inputs.push_back(i);
  }
  return l;
}

absl::StatusOr<std::vector<core::Dims>> InferLRN(const OpContext& ctx) {
  if (ctx.input_dims[0].size() < 3) return ctx.Error("input must be [N, C, D1, ...]");
  Q8_ASSIGN_OR_RETURN(int64_t size, ctx.node.attrs.GetInt("size", 0));
  if (size < 1) return ctx.Error("'size' must be a positive integer");
  return std::vector<core::Dims>{ctx.input_dims[0]};
}

absl::StatusOr<Lowering> LowerLRN(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(InferLRN(ctx).status());
  kernels::LrnParams p;
  const Attributes& at = ctx.node.attrs;
  Q8_ASSIGN_OR_RETURN(p.size, at.GetInt("size", 0));
  Q8_ASSIGN_OR_RETURN(p.alpha, at.GetFloat("alpha", 1e-4f));
  Q8_ASSIGN_OR_RETURN(p.beta, at.GetFloat("beta", 0.75f));
  Q8_ASSIGN_OR_RETURN(p.bias, at.GetFloat("bias", 1.0f));
  Lowering l;
  l.params = p;
  l.runtime_inputs = {0};
  return l;
}

}  // namespace q8::engine::ops
