// Owns the index, reduction and cast value ops of value_ops.h (the numeric
// ones are in value_ops_numeric.cc) and their dispatch: dims/type validation once per step and
// runs that check every index a request sends before anything is written.
#include "kernels/value_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/element_convert.h"
#include "core/status_macros.h"
#include "kernels/data_ops.h"
#include "kernels/internal/broadcast_walk.h"
#include "kernels/internal/value_op_util.h"

namespace q8::kernels {
namespace {

using namespace value_internal;  // NOLINT: the shared value-op helpers

// ---- GatherOp ----
absl::Status Validate(const GatherOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 2) return Bad("Gather reads data and indices");
  Q8_RETURN_IF_ERROR(CheckAxis(op.axis, in[0].dims.size()));
  if (!Loadable(in[1].dtype)) return Bad("Gather indices must be numeric");
  core::Dims want(in[0].dims.begin(), in[0].dims.begin() + op.axis);
  want.insert(want.end(), in[1].dims.begin(), in[1].dims.end());
  want.insert(want.end(), in[0].dims.begin() + op.axis + 1, in[0].dims.end());
  if (out.dims != want || out.dtype != in[0].dtype) return Bad("Gather output dims or type");
  return absl::OkStatus();
}

absl::Status Run(const GatherOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const core::Dims& d = in[0].dims;
  const int64_t n = d[op.axis], outer = Prod(d, 0, op.axis), inner = Prod(d, op.axis + 1, d.size());
  const int64_t m = in[1].num_elements(), bytes = inner * core::SizeOf(out.dtype);
  Q8_RETURN_IF_ERROR(CheckAll(in[1], n, "Gather"));
  const char* src = static_cast<const char*>(in[0].data);
  char* dst = static_cast<char*>(out.data);
  for (int64_t j = 0; j < m; ++j) {
    const int64_t k = *IndexAt(in[1], j, n, "Gather");  // checked above
    for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + (o * m + j) * bytes, src + (o * n + k) * bytes, bytes);
  }
  return absl::OkStatus();
}

// ---- GatherElements / ScatterElements: indices walk the data's strides ----
absl::Status CheckElementsDims(int axis, const core::Dims& data, const core::Dims& idx) {
  Q8_RETURN_IF_ERROR(CheckAxis(axis, data.size()));
  if (idx.size() != data.size()) return Bad("indices must have the data's rank");
  for (size_t d = 0; d < data.size(); ++d) {
    if (static_cast<int>(d) != axis && idx[d] > data[d]) return Bad("indices exceed the data outside the axis");
  }
  return absl::OkStatus();
}

// Calls f(i, data_offset) for each element i of the indices tensor.
template <typename F>
absl::Status ForEachElementIndex(int axis, const core::Dims& data, const core::TensorView& idx, absl::string_view op,
                                 F&& f) {
  Q8_RETURN_IF_ERROR(CheckAll(idx, data[axis], op));
  const Index ds = StridesOf(data);
  const size_t rank = data.size();
  Index pos{};
  for (int64_t i = 0; i < idx.num_elements(); ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < rank; ++d) {
      off += (static_cast<int>(d) == axis ? *IndexAt(idx, i, data[axis], op) : pos[d]) * ds[d];
    }
    f(i, off);
    for (size_t d = rank; d-- > 0;) {
      if (++pos[d] < idx.dims[d]) break;
      pos[d] = 0;
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const GatherElementsOp& op, absl::Span<const core::TensorView> in,
                      const core::MutableTensorView& out) {
  if (in.size() != 2) return Bad("GatherElements reads data and indices");
  Q8_RETURN_IF_ERROR(CheckElementsDims(op.axis, in[0].dims, in[1].dims));
  if (!Loadable(in[1].dtype)) return Bad("indices must be numeric");
  if (out.dims != in[1].dims || out.dtype != in[0].dtype) return Bad("GatherElements output dims or type");
  return absl::OkStatus();
}

absl::Status Run(const GatherElementsOp& op, absl::Span<const core::TensorView> in,
                 const core::MutableTensorView& out) {
  const int64_t e = core::SizeOf(out.dtype);
  const char* src = static_cast<const char*>(in[0].data);
  char* dst = static_cast<char*>(out.data);
  return ForEachElementIndex(op.axis, in[0].dims, in[1], "GatherElements",
                             [&](int64_t i, int64_t off) { std::memcpy(dst + i * e, src + off * e, e); });
}

absl::Status Validate(const ScatterElementsOp& op, absl::Span<const core::TensorView> in,
                      const core::MutableTensorView& out) {
  if (in.size() != 3) return Bad("ScatterElements reads data, indices and updates");
  Q8_RETURN_IF_ERROR(CheckElementsDims(op.axis, in[0].dims, in[1].dims));
  if (!Loadable(in[1].dtype)) return Bad("indices must be numeric");
  if (in[2].dims != in[1].dims) return Bad("updates must have the indices' dims");
  Q8_RETURN_IF_ERROR(CheckF32(in[0], "data"));
  Q8_RETURN_IF_ERROR(CheckF32(in[2], "updates"));
  if (out.dims != in[0].dims || out.dtype != DataType::kFloat32) return Bad("ScatterElements output dims or type");
  return absl::OkStatus();
}

absl::Status Run(const ScatterElementsOp& op, absl::Span<const core::TensorView> in,
                 const core::MutableTensorView& out) {
  Q8_RETURN_IF_ERROR(CheckAll(in[1], in[0].dims[op.axis], "ScatterElements"));
  float* dst = Out(out);
  std::memcpy(dst, in[0].data, out.num_elements() * sizeof(float));
  const float* upd = In(in[2]);
  return ForEachElementIndex(op.axis, in[0].dims, in[1], "ScatterElements",
                             [&](int64_t i, int64_t off) { Combine(op.reduction, dst[off], upd[i]); });
}

// ---- reductions along one axis ----
core::Dims ReducedDims(const core::Dims& d, int axis, bool keepdims) {
  core::Dims out = d;
  if (keepdims) {
    out[axis] = 1;
  } else {
    out.erase(out.begin() + axis);
  }
  return out;
}

absl::Status Validate(const ArgReduceOp& op, absl::Span<const core::TensorView> in,
                      const core::MutableTensorView& out) {
  if (in.size() != 1) return Bad("ArgMax/ArgMin read one input");
  Q8_RETURN_IF_ERROR(CheckF32(in[0], "input"));
  Q8_RETURN_IF_ERROR(CheckAxis(op.axis, in[0].dims.size()));
  if (in[0].dims[op.axis] < 1) return Bad("ArgMax/ArgMin over an empty axis");
  if (out.dims != ReducedDims(in[0].dims, op.axis, op.keepdims)) return Bad("ArgMax/ArgMin output dims");
  return absl::OkStatus();
}

absl::Status Run(const ArgReduceOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const core::Dims& d = in[0].dims;
  const int64_t n = d[op.axis], outer = Prod(d, 0, op.axis), inner = Prod(d, op.axis + 1, d.size());
  const float* x = In(in[0]);
  float* y = Out(out);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* row = x + o * n * inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k) {
        const float v = row[k * inner], b = row[best * inner];
        const bool better =
            op.max ? (v > b || (op.select_last_index && v == b)) : (v < b || (op.select_last_index && v == b));
        if (better) best = k;
      }
      y[o * inner + i] = static_cast<float>(best);
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const CumSumOp&, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 2) return Bad("CumSum reads x and axis");
  Q8_RETURN_IF_ERROR(ValidateSameF32(in, out, "CumSum"));
  if (in[0].dims.empty()) return Bad("CumSum needs rank >= 1");
  return CheckScalar(in[1], "CumSum's axis");
}

absl::Status Run(const CumSumOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const core::Dims& d = in[0].dims;
  Q8_ASSIGN_OR_RETURN(const int64_t axis, IndexAt(in[1], 0, static_cast<int64_t>(d.size()), "CumSum axis"));
  const int64_t n = d[axis], outer = Prod(d, 0, axis), inner = Prod(d, axis + 1, d.size());
  const float* x = In(in[0]);
  float* y = Out(out);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      double acc = 0;
      for (int64_t s = 0; s < n; ++s) {
        const int64_t k = op.reverse ? n - 1 - s : s;
        const int64_t at = (o * n + k) * inner + i;
        if (op.exclusive) {
          y[at] = static_cast<float>(acc);
          acc += x[at];
        } else {
          acc += x[at];
          y[at] = static_cast<float>(acc);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const TriluOp&, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.empty() || in.size() > 2) return Bad("Trilu reads x and an optional k");
  Q8_RETURN_IF_ERROR(ValidateSameF32(in, out, "Trilu"));
  if (in[0].dims.size() < 2) return Bad("Trilu needs rank >= 2");
  if (in.size() == 2) Q8_RETURN_IF_ERROR(CheckScalar(in[1], "Trilu's k"));
  return absl::OkStatus();
}

absl::Status Run(const TriluOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  double kd = in.size() == 2 ? Load(in[1], 0) : 0.0;
  if (kd != std::trunc(kd)) return Bad(absl::StrCat("Trilu: k ", kd, " is not an integer"));
  // Beyond +-2^40 every element is on one side; clamping keeps the arithmetic exact.
  kd = std::clamp(kd, -1e12, 1e12);
  const auto k = static_cast<int64_t>(kd);
  const core::Dims& d = in[0].dims;
  const int64_t rows = d[d.size() - 2], cols = d.back(), mats = Prod(d, 0, d.size() - 2);
  const float* x = In(in[0]);
  float* y = Out(out);
  for (int64_t m = 0; m < mats; ++m) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t at = (m * rows + r) * cols + c;
        const bool keep = op.upper ? c - r >= k : c - r <= k;
        y[at] = keep ? x[at] : 0.0f;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const HardmaxOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 1) return Bad("Hardmax reads one input");
  Q8_RETURN_IF_ERROR(ValidateSameF32(in, out, "Hardmax"));
  return CheckAxis(op.axis, in[0].dims.size());
}

absl::Status Run(const HardmaxOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const core::Dims& d = in[0].dims;
  const int64_t n = d[op.axis], outer = Prod(d, 0, op.axis), inner = Prod(d, op.axis + 1, d.size());
  const float* x = In(in[0]);
  float* y = Out(out);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k) {
        if (x[(o * n + k) * inner + i] > x[(o * n + best) * inner + i]) best = k;
      }
      for (int64_t k = 0; k < n; ++k) y[(o * n + k) * inner + i] = k == best ? 1.0f : 0.0f;
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const ModOp&, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 2) return Bad("Mod reads two inputs");
  Q8_RETURN_IF_ERROR(CheckF32(in[0], "Mod's A"));
  Q8_RETURN_IF_ERROR(CheckF32(in[1], "Mod's B"));
  core::Dims want;
  if (!BroadcastAll({in[0].dims, in[1].dims}, &want) || want != out.dims || out.dtype != DataType::kFloat32) {
    return Bad("Mod output dims");
  }
  if (want.size() > kMaxRank) return Bad(absl::StrCat("rank above ", kMaxRank));
  return absl::OkStatus();
}

absl::Status Run(const ModOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const float* a = In(in[0]);
  const float* b = In(in[1]);
  float* y = Out(out);
  internal::ForEachBroadcast<2>(out.dims, {&in[0].dims, &in[1].dims},
                                [&](int64_t i, const std::array<int64_t, 2>& off) {
                                  const float p = a[off[0]], q = b[off[1]];
                                  float r = std::fmod(p, q);
                                  if (!op.fmod && r != 0 && ((r < 0) != (q < 0))) r += q;
                                  y[i] = r;
                                });
  return absl::OkStatus();
}

absl::Status Validate(const ClipOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const size_t want = 1 + op.has_min + op.has_max;
  if (in.size() != want) return Bad("Clip reads x and its present bounds");
  Q8_RETURN_IF_ERROR(ValidateSameF32(in, out, "Clip"));
  for (size_t i = 1; i < in.size(); ++i) Q8_RETURN_IF_ERROR(CheckScalar(in[i], "a Clip bound"));
  return absl::OkStatus();
}

absl::Status Run(const ClipOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
  size_t next = 1;
  if (op.has_min) lo = static_cast<float>(Load(in[next++], 0));
  if (op.has_max) hi = static_cast<float>(Load(in[next++], 0));
  const float* x = In(in[0]);
  float* y = Out(out);
  // ONNX: min > max gives max everywhere, which this order of min/max yields.
  for (int64_t i = 0; i < out.num_elements(); ++i) y[i] = std::min(std::max(x[i], lo), hi);
  return absl::OkStatus();
}

absl::Status Validate(const RoundTripCastOp& op, absl::Span<const core::TensorView> in,
                      const core::MutableTensorView& out) {
  if (in.size() != 1) return Bad("Cast reads one input");
  if (op.to == DataType::kUndefined || op.to >= DataType::kCount) return Bad("Cast target type");
  return ValidateSameF32(in, out, "Cast");
}

template <typename T>
float Saturate(float v) {
  if (std::isnan(v)) return 0.0f;
  const double t = std::trunc(static_cast<double>(v));
  const double lo = static_cast<double>(std::numeric_limits<T>::min());
  const double hi = static_cast<double>(std::numeric_limits<T>::max());
  return static_cast<float>(std::clamp(t, lo, hi));
}

float CastValue(DataType to, float v) {
  switch (to) {
    case DataType::kBool:
      return v != 0.0f ? 1.0f : 0.0f;
    case DataType::kUInt8:
      return Saturate<uint8_t>(v);
    case DataType::kUInt16:
      return Saturate<uint16_t>(v);
    case DataType::kUInt32:
      return Saturate<uint32_t>(v);
    case DataType::kUInt64:
      return Saturate<uint64_t>(v);
    case DataType::kInt8:
      return Saturate<int8_t>(v);
    case DataType::kInt16:
      return Saturate<int16_t>(v);
    case DataType::kInt32:
      return Saturate<int32_t>(v);
    case DataType::kInt64:
      return Saturate<int64_t>(v);
    case DataType::kFloat16:
      return core::HalfToFloat(core::FloatToHalf(v));
    case DataType::kBFloat16:
      return core::BFloat16ToFloat(core::FloatToBFloat16(v));
    default:
      return v;  // FP32, FP64: FP32 carries the value as it is
  }
}

absl::Status Run(const RoundTripCastOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const float* x = In(in[0]);
  float* y = Out(out);
  for (int64_t i = 0; i < out.num_elements(); ++i) y[i] = CastValue(op.to, x[i]);
  return absl::OkStatus();
}

// ---- output types ----
struct TypeVisitor {
  absl::Span<const DataType> in;
  absl::StatusOr<DataType> Arity(size_t lo, size_t hi, DataType t) const {
    if (in.size() < lo || in.size() > hi) return Bad("value op arity");
    return t;
  }
  absl::StatusOr<DataType> operator()(const GatherOp&) const {
    return in.size() == 2 ? absl::StatusOr<DataType>(in[0]) : Bad("Gather reads data and indices");
  }
  absl::StatusOr<DataType> operator()(const GatherElementsOp&) const {
    return in.size() == 2 ? absl::StatusOr<DataType>(in[0]) : Bad("GatherElements reads data and indices");
  }
  absl::StatusOr<DataType> operator()(const ScatterElementsOp&) const { return Arity(3, 3, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const GatherNDOp&) const {
    return in.size() == 2 ? absl::StatusOr<DataType>(in[0]) : Bad("GatherND reads data and indices");
  }
  absl::StatusOr<DataType> operator()(const ScatterNDOp&) const {
    return in.size() == 3 ? absl::StatusOr<DataType>(in[0]) : Bad("ScatterND reads data, indices and updates");
  }
  absl::StatusOr<DataType> operator()(const TriluOp&) const { return Arity(1, 2, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const ModOp&) const { return Arity(2, 2, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const ClipOp&) const { return Arity(1, 3, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const LossOp&) const { return Arity(2, 3, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const LayerNormStatsOp&) const { return Arity(1, 3, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const LayerNormOp&) const { return Arity(2, 3, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const CumSumOp&) const { return Arity(2, 2, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const GemmOp&) const { return Arity(2, 3, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const DropoutGateOp& op) const {
    const size_t n = 1 + op.training_mode + op.ratio;
    return Arity(n, n, DataType::kFloat32);
  }
  absl::StatusOr<DataType> operator()(const EinsumOp& op) const {
    return Arity(op.inputs.size(), op.inputs.size(), DataType::kFloat32);
  }
  template <typename Op>
  absl::StatusOr<DataType> operator()(const Op&) const {
    return Arity(1, 1, DataType::kFloat32);
  }
};

}  // namespace

absl::StatusOr<DataType> ValueOpOutputType(const ValueOp& op, absl::Span<const DataType> inputs) {
  return std::visit(TypeVisitor{inputs}, op);
}

absl::Status ValidateValueOp(const ValueOp& op, absl::Span<const core::TensorView> inputs,
                             const core::MutableTensorView& output) {
  return std::visit([&](const auto& o) { return Validate(o, inputs, output); }, op);
}

absl::Status RunValueOp(const ValueOp& op, absl::Span<const core::TensorView> inputs,
                        const core::MutableTensorView& output) {
  return std::visit([&](const auto& o) { return Run(o, inputs, output); }, op);
}

}  // namespace q8::kernels
