// Helpers shared by the value-op kernels (value_ops.cc, value_ops_numeric.cc,
// nd_index_ops.cc):
// reading numeric views, checking request-supplied indices and axes, and the
// Validate/Run pairs that value_ops_numeric.cc and nd_index_ops.cc define, for the dispatch in
// value_ops.cc. Internal to kernels/.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/status_macros.h"
#include "core/tensor.h"
#include "kernels/internal/broadcast_walk.h"
#include "kernels/value_ops.h"

namespace q8::kernels::value_internal {

using core::DataType;
using internal::Index;
using internal::kMaxRank;
using internal::StridesOf;

inline absl::Status Bad(absl::string_view what) { return absl::InvalidArgumentError(what); }

// Element i of a numeric view as a double (NaN for non-numeric types, which
// validation refuses before any run).
inline double Load(const core::TensorView& v, int64_t i) {
  switch (v.dtype) {
    case DataType::kFloat32:
      return static_cast<const float*>(v.data)[i];
    case DataType::kFloat64:
      return static_cast<const double*>(v.data)[i];
    case DataType::kInt64:
      return static_cast<double>(static_cast<const int64_t*>(v.data)[i]);
    case DataType::kInt32:
      return static_cast<const int32_t*>(v.data)[i];
    case DataType::kInt16:
      return static_cast<const int16_t*>(v.data)[i];
    case DataType::kInt8:
      return static_cast<const int8_t*>(v.data)[i];
    case DataType::kUInt8:
      return static_cast<const uint8_t*>(v.data)[i];
    case DataType::kBool:
      return static_cast<const uint8_t*>(v.data)[i] != 0 ? 1.0 : 0.0;
    case DataType::kUInt16:
      return static_cast<const uint16_t*>(v.data)[i];
    case DataType::kUInt32:
      return static_cast<const uint32_t*>(v.data)[i];
    case DataType::kUInt64:
      return static_cast<double>(static_cast<const uint64_t*>(v.data)[i]);
    default:
      return std::numeric_limits<double>::quiet_NaN();
  }
}

inline bool Loadable(DataType t) {
  return t != DataType::kUndefined && t != DataType::kFloat16 && t != DataType::kBFloat16;
}

// Index element i of `v` for an axis of size n, normalised to [0, n);
// INVALID_ARGUMENT for a value that is not an integer in [-n, n).
inline absl::StatusOr<int64_t> IndexAt(const core::TensorView& v, int64_t i, int64_t n, absl::string_view op) {
  const double x = Load(v, i);
  if (!(x >= -static_cast<double>(n) && x < static_cast<double>(n)) || x != std::trunc(x)) {
    return Bad(absl::StrCat(op, ": index ", x, " at position ", i, " is out of range [", -n, ", ", n, ")"));
  }
  const auto k = static_cast<int64_t>(x);
  return k < 0 ? k + n : k;
}

inline absl::Status CheckAll(const core::TensorView& idx, int64_t n, absl::string_view op) {
  for (int64_t i = 0; i < idx.num_elements(); ++i) Q8_RETURN_IF_ERROR(IndexAt(idx, i, n, op).status());
  return absl::OkStatus();
}

inline int64_t Prod(const core::Dims& d, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < d.size(); ++i) p *= d[i];
  return p;
}

inline absl::Status CheckAxis(int axis, size_t rank) {
  if (rank > kMaxRank) return Bad(absl::StrCat("rank above ", kMaxRank));
  if (axis < 0 || static_cast<size_t>(axis) >= rank) return Bad("axis out of range");
  return absl::OkStatus();
}

inline absl::Status CheckF32(const core::TensorView& v, absl::string_view what) {
  if (v.dtype != DataType::kFloat32) return Bad(absl::StrCat(what, " must be FP32"));
  return absl::OkStatus();
}

// A scalar operand (one element) as a double.
inline absl::Status CheckScalar(const core::TensorView& v, absl::string_view what) {
  if (v.num_elements() != 1 || !Loadable(v.dtype)) return Bad(absl::StrCat(what, " must be one numeric element"));
  return absl::OkStatus();
}

// t = t (reduction) u: what a scatter does where an update lands.
inline void Combine(ScatterReduction r, float& t, float u) {
  switch (r) {
    case ScatterReduction::kNone:
      t = u;
      break;
    case ScatterReduction::kAdd:
      t += u;
      break;
    case ScatterReduction::kMul:
      t *= u;
      break;
    case ScatterReduction::kMax:
      t = std::max(t, u);
      break;
    case ScatterReduction::kMin:
      t = std::min(t, u);
      break;
  }
}

inline float* Out(const core::MutableTensorView& o) { return static_cast<float*>(o.data); }
inline const float* In(const core::TensorView& v) { return static_cast<const float*>(v.data); }

// One f32 input whose dims the output keeps.
inline absl::Status ValidateSameF32(absl::Span<const core::TensorView> in, const core::MutableTensorView& out,
                                    absl::string_view what) {
  if (in.empty()) return Bad(absl::StrCat(what, " needs an input"));
  Q8_RETURN_IF_ERROR(CheckF32(in[0], what));
  if (out.dims != in[0].dims || out.dtype != DataType::kFloat32) return Bad(absl::StrCat(what, " keeps the dims"));
  if (in[0].dims.size() > kMaxRank) return Bad(absl::StrCat("rank above ", kMaxRank));
  return absl::OkStatus();
}

}  // namespace q8::kernels::value_internal

namespace q8::kernels {

// value_ops_numeric.cc, value_ops_select.cc and nd_index_ops.cc
#define Q8_VALUE_OP(Op)                                                                                           \
  absl::Status Validate(const Op& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out); \
  absl::Status Run(const Op& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out);
Q8_VALUE_OP(LossOp)
Q8_VALUE_OP(LayerNormStatsOp)
Q8_VALUE_OP(LayerNormOp)
Q8_VALUE_OP(GemmOp)
Q8_VALUE_OP(DropoutGateOp)
Q8_VALUE_OP(ReduceLogSumExpOp)
Q8_VALUE_OP(MaxPoolIndicesOp)
Q8_VALUE_OP(TopKOp)
Q8_VALUE_OP(EyeLikeOp)
Q8_VALUE_OP(EinsumOp)
Q8_VALUE_OP(GatherNDOp)
Q8_VALUE_OP(ScatterNDOp)
#undef Q8_VALUE_OP

}  // namespace q8::kernels
