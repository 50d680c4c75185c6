// Softmax and (unfolded) BatchNormalization.
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
  if (axis < 0 || axis >= rank) return ctx.Error("axis is out of range");
  if (ctx.opset < 13 && axis != rank - 1) {
    return ctx.Unsupported("Softmax before opset 13 over more than the last axis");
  }
  return static_cast<int>(axis);
}

absl::Status CheckBatchNorm(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(int64_t training, ctx.node.attrs.GetInt("training_mode", 0));
  if (training != 0) return ctx.Unsupported("training_mode=1");
  const core::Dims& x = ctx.input_dims[0];
  if (x.size() < 2) return ctx.Error("input must have a channel dimension");
  for (int i = 1; i <= 4; ++i) {
    const core::Tensor* t = ctx.constant(i);
    if (t == nullptr) return ctx.Unsupported("runtime scale/bias/mean/variance");
    if (t->num_elements() != x[1] || t->dtype() != core::DataType::kFloat32) {
      return ctx.Error(absl::StrCat("scale, bias, mean and variance must be float32 [", x[1], "]"));
    }
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
  Lowering l;
  l.params = kernels::SoftmaxParams{axis};
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
  return l;
}

}  // namespace q8::engine::ops
