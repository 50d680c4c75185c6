// Data-movement ops: Flatten, Reshape, Identity/Dropout (free aliases of
// their input's bytes), Transpose and Concat (kernels; Concat with constant
// inputs runs the plain C++ kernel of data_op.cc).
#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"

namespace q8::engine::ops {

absl::StatusOr<int64_t> NormalizeAxis(const OpContext& ctx, int64_t axis, int64_t rank, bool inclusive_end) {
  const int64_t limit = inclusive_end ? rank + 1 : rank;
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= limit) return ctx.Error(absl::StrCat("axis is out of range for rank ", rank));
  return axis;
}

Lowering AliasLowering() {
  Lowering l;
  l.kind = Lowering::Kind::kAlias;
  l.params = kernels::ReorderParams{};
  l.runtime_inputs = {0};
  return l;
}

absl::StatusOr<std::vector<core::Dims>> InferFlatten(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  Q8_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.attrs.GetInt("axis", 1));
  Q8_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, axis_attr, x.size(), true));
  Q8_ASSIGN_OR_RETURN(int64_t outer,
                      core::CheckedNumElements(absl::MakeConstSpan(x).subspan(0, axis), "Flatten input"));
  Q8_ASSIGN_OR_RETURN(int64_t inner, core::CheckedNumElements(absl::MakeConstSpan(x).subspan(axis), "Flatten input"));
  return std::vector<core::Dims>{{outer, inner}};
}

absl::StatusOr<Lowering> LowerFlatten(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(InferFlatten(ctx).status());
  return AliasLowering();
}

absl::StatusOr<std::vector<core::Dims>> InferReshape(const OpContext& ctx) {
  const core::Tensor* shape = ctx.constant(1);
  if (shape == nullptr) return ctx.Unsupported("a runtime target shape (only constant shapes)");
  if (shape->dtype() != core::DataType::kInt64 || shape->dims().size() != 1) {
    return ctx.Error("the shape input must be a 1-D int64 tensor");
  }
  Q8_ASSIGN_OR_RETURN(int64_t allowzero, ctx.node.attrs.GetInt("allowzero", 0));
  const core::Dims& x = ctx.input_dims[0];
  core::Dims out(shape->span<int64_t>().begin(), shape->span<int64_t>().end());
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && allowzero == 0) {
      if (i >= x.size()) return ctx.Error("shape copies a dimension the input does not have");
      out[i] = x[i];
    }
    if (out[i] == -1) {
      if (infer_at >= 0) return ctx.Error("shape has more than one -1");
      infer_at = static_cast<int>(i);
    } else if (out[i] < 0) {
      return ctx.Error("shape has a negative dimension");
    } else {
      const std::optional<int64_t> next = core::CheckedMul(known, out[i]);
      if (!next) return ctx.Error(absl::StrCat("target shape ", core::DimsToString(out), " overflows"));
      known = *next;
    }
  }
  Q8_ASSIGN_OR_RETURN(const int64_t total, core::CheckedNumElements(x, "Reshape input"));
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0) return ctx.Error("cannot infer the -1 dimension");
    out[infer_at] = total / known;
  }
  if (core::NumElements(out) != total) {
    return ctx.Error(absl::StrCat("cannot reshape ", core::DimsToString(x), " to ", core::DimsToString(out)));
  }
  return std::vector<core::Dims>{out};
}

absl::StatusOr<Lowering> LowerReshape(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(InferReshape(ctx).status());
  return AliasLowering();
}

absl::StatusOr<std::vector<core::Dims>> InferIdentity(const OpContext& ctx) {
  for (size_t i = 1; i < ctx.node.outputs.size(); ++i) {
    if (ctx.node.outputs[i] != kNoValue && !ctx.graph.Consumers(ctx.node.outputs[i]).empty()) {
      return ctx.Unsupported("the mask output of Dropout");
    }
  }
  if (ctx.node.op_type == "Dropout" && ctx.has_input(2)) {
    // Runtime training_mode is refused before this (a runtime BOOL); a constant one must be false,
    // or the ratio a constant 0, which drops nothing even in training (torchvision 0.14's Swin
    // exports its attention dropout so: training=True, p=0).
    const core::Tensor* mode = ctx.constant(2);
    const core::Tensor* ratio = ctx.has_input(1) ? ctx.constant(1) : nullptr;
    const bool no_drop = ratio != nullptr && ratio->num_elements() == 1 && ratio->has_storage() &&
                         ratio->dtype() == core::DataType::kFloat32 && ratio->span<float>()[0] == 0.0f;
    if (!no_drop && (mode == nullptr || mode->num_elements() != 1 || mode->span<uint8_t>()[0] != 0)) {
      return ctx.Unsupported("training_mode other than a constant false (Dropout in training)");
    }
  }
  return std::vector<core::Dims>{ctx.input_dims[0]};
}

absl::StatusOr<Lowering> LowerIdentity(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(InferIdentity(ctx).status());
  return AliasLowering();
}

absl::StatusOr<std::vector<int64_t>> Permutation(const OpContext& ctx) {
  const int64_t rank = ctx.input_dims[0].size();
  std::vector<int64_t> reversed;
  for (int64_t i = rank - 1; i >= 0; --i) reversed.push_back(i);
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ctx.node.attrs.GetInts("perm", reversed));
  std::vector<bool> seen(rank, false);
  if (static_cast<int64_t>(perm.size()) != rank) return ctx.Error("perm length differs from the input rank");
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p]) return ctx.Error("perm is not a permutation");
    seen[p] = true;
  }
  return perm;
}

absl::StatusOr<std::vector<core::Dims>> InferTranspose(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> perm, Permutation(ctx));
  core::Dims out;
  for (int64_t p : perm) out.push_back(ctx.input_dims[0][p]);
  return std::vector<core::Dims>{out};
}

absl::StatusOr<Lowering> LowerTranspose(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> perm, Permutation(ctx));
  Lowering l;
  l.params = kernels::TransposeParams{perm};
  l.runtime_inputs = {0};
  return l;
}

absl::StatusOr<int64_t> ConcatAxis(const OpContext& ctx) {
  // Before opset 4 the axis defaulted to 1; it is required from then on.
  Q8_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.attrs.GetInt("axis", ctx.opset < 4 ? 1 : 0));
  const int64_t rank = ctx.input_dims[0].size();
  Q8_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, axis_attr, rank, false));
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error("an input is missing");
    const core::Dims& d = ctx.input_dims[i];
    if (static_cast<int64_t>(d.size()) != rank) return ctx.Error("inputs have different ranks");
    for (int64_t j = 0; j < rank; ++j) {
      if (j != axis && d[j] != ctx.input_dims[0][j]) {
        return ctx.Error(absl::StrCat("inputs differ in dimension ", j, " outside the concat axis"));
      }
    }
  }
  return axis;
}

absl::StatusOr<std::vector<core::Dims>> InferConcat(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(int64_t axis, ConcatAxis(ctx));
  core::Dims out = ctx.input_dims[0];
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    const std::optional<int64_t> sum = core::CheckedAdd(out[axis], ctx.input_dims[i][axis]);
    if (!sum) return ctx.Error("concatenated size overflows");
    out[axis] = *sum;
  }
  return std::vector<core::Dims>{out};
}

absl::StatusOr<Lowering> LowerConcat(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(int64_t axis, ConcatAxis(ctx));
  // oneDNN's concat joins runtime tensors only; constant inputs take the plain C++ kernel.
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.constant(i) != nullptr) return LowerDataOp(ctx);
  }
  Lowering l;
  l.params = kernels::ConcatParams{static_cast<int>(axis)};
  for (int i = 0; i < ctx.num_inputs(); ++i) l.runtime_inputs.push_back(i);
  return l;
}

}  // namespace q8::engine::ops
