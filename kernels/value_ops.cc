// Owns the value ops of value_ops.h: dims/type validation once per step and
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

namespace q8::kernels {
namespace {

using core::DataType;
using internal::Index;
using internal::kMaxRank;
using internal::StridesOf;

absl::Status Bad(absl::string_view what) { return absl::InvalidArgumentError(what); }

// Element i of a numeric view as a double (NaN for non-numeric types, which
// validation refuses before any run).
double Load(const core::TensorView& v, int64_t i) {
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

bool Loadable(DataType t) { return t != DataType::kUndefined && t != DataType::kFloat16 && t != DataType::kBFloat16; }

// Index element i of `v` for an axis of size n, normalised to [0, n);
// INVALID_ARGUMENT for a value that is not an integer in [-n, n).
absl::StatusOr<int64_t> IndexAt(const core::TensorView& v, int64_t i, int64_t n, absl::string_view op) {
  const double x = Load(v, i);
  if (!(x >= -static_cast<double>(n) && x < static_cast<double>(n)) || x != std::trunc(x)) {
    return Bad(absl::StrCat(op, ": index ", x, " at position ", i, " is out of range [", -n, ", ", n, ")"));
  }
  const auto k = static_cast<int64_t>(x);
  return k < 0 ? k + n : k;
}

absl::Status CheckAll(const core::TensorView& idx, int64_t n, absl::string_view op) {
  for (int64_t i = 0; i < idx.num_elements(); ++i) Q8_RETURN_IF_ERROR(IndexAt(idx, i, n, op).status());
  return absl::OkStatus();
}

int64_t Prod(const core::Dims& d, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < d.size(); ++i) p *= d[i];
  return p;
}

absl::Status CheckAxis(int axis, size_t rank) {
  if (rank > kMaxRank) return Bad(absl::StrCat("rank above ", kMaxRank));
  if (axis < 0 || static_cast<size_t>(axis) >= rank) return Bad("axis out of range");
  return absl::OkStatus();
}

absl::Status CheckF32(const core::TensorView& v, absl::string_view what) {
  if (v.dtype != DataType::kFloat32) return Bad(absl::StrCat(what, " must be FP32"));
  return absl::OkStatus();
}

// A scalar operand (one element) as a double.
absl::Status CheckScalar(const core::TensorView& v, absl::string_view what) {
  if (v.num_elements() != 1 || !Loadable(v.dtype)) return Bad(absl::StrCat(what, " must be one numeric element"));
  return absl::OkStatus();
}

float* Out(const core::MutableTensorView& o) { return static_cast<float*>(o.data); }
const float* In(const core::TensorView& v) { return static_cast<const float*>(v.data); }

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
  using R = ScatterElementsOp::Reduction;
  return ForEachElementIndex(op.axis, in[0].dims, in[1], "ScatterElements", [&](int64_t i, int64_t off) {
    float& t = dst[off];
    switch (op.reduction) {
      case R::kNone:
        t = upd[i];
        break;
      case R::kAdd:
        t += upd[i];
        break;
      case R::kMul:
        t *= upd[i];
        break;
      case R::kMax:
        t = std::max(t, upd[i]);
        break;
      case R::kMin:
        t = std::min(t, upd[i]);
        break;
    }
  });
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

absl::Status ValidateSameF32(absl::Span<const core::TensorView> in, const core::MutableTensorView& out,
                             absl::string_view what) {
  if (in.empty()) return Bad(absl::StrCat(what, " needs an input"));
  Q8_RETURN_IF_ERROR(CheckF32(in[0], what));
  if (out.dims != in[0].dims || out.dtype != DataType::kFloat32) return Bad(absl::StrCat(what, " keeps the dims"));
  if (in[0].dims.size() > kMaxRank) return Bad(absl::StrCat("rank above ", kMaxRank));
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

// ---- losses ----
core::Dims LossTargetDims(const core::Dims& scores) {
  core::Dims t = {scores[0]};
  t.insert(t.end(), scores.begin() + 2, scores.end());
  return t;
}

absl::Status Validate(const LossOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != (op.has_weight ? 3u : 2u)) return Bad("a loss reads scores, target and an optional weight");
  Q8_RETURN_IF_ERROR(CheckF32(in[0], "scores"));
  const core::Dims& s = in[0].dims;
  if (s.size() < 2 || s.size() > kMaxRank || s[1] < 1) return Bad("scores must be [N, C, d1, ...] with C >= 1");
  if (in[1].dims != LossTargetDims(s) || !Loadable(in[1].dtype)) return Bad("target must be [N, d1, ...]");
  if (op.has_weight) {
    Q8_RETURN_IF_ERROR(CheckF32(in[2], "weight"));
    if (in[2].dims != core::Dims{s[1]}) return Bad("weight must be [C]");
  }
  core::Dims want = op.log_prob_output ? s : op.reduction == LossOp::Reduction::kNone ? in[1].dims : core::Dims{};
  if (out.dims != want || out.dtype != DataType::kFloat32) return Bad("loss output dims");
  return absl::OkStatus();
}

absl::Status Run(const LossOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const core::Dims& s = in[0].dims;
  const int64_t n = s[0], c = s[1], inner = Prod(s, 2, s.size());
  const float* x = In(in[0]);
  const float* w = op.has_weight ? In(in[2]) : nullptr;
  float* y = Out(out);
  // The log-probability of class k at (b, i).
  auto log_prob = [&](int64_t b, int64_t i, int64_t k) -> double {
    const float* col = x + b * c * inner + i;
    if (!op.softmax) return col[k * inner];
    double mx = col[0];
    for (int64_t j = 1; j < c; ++j) mx = std::max<double>(mx, col[j * inner]);
    double sum = 0;
    for (int64_t j = 0; j < c; ++j) sum += std::exp(col[j * inner] - mx);
    return col[k * inner] - mx - std::log(sum);
  };
  if (op.log_prob_output) {
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t i = 0; i < inner; ++i) {
        for (int64_t k = 0; k < c; ++k) y[(b * c + k) * inner + i] = static_cast<float>(log_prob(b, i, k));
      }
    }
    return absl::OkStatus();
  }
  // Targets are checked before anything is written.
  const core::TensorView& t = in[1];
  for (int64_t j = 0; j < t.num_elements(); ++j) {
    const double v = Load(t, j);
    if (op.has_ignore_index && v == static_cast<double>(op.ignore_index)) continue;
    Q8_RETURN_IF_ERROR(IndexAt(t, j, c, "loss target").status());
    if (v < 0) return Bad(absl::StrCat("loss target: class ", v, " at position ", j, " is negative"));
  }
  double total = 0, weight_sum = 0;
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t j = b * inner + i;
      const double v = Load(t, j);
      double loss = 0, wt = 0;
      if (!(op.has_ignore_index && v == static_cast<double>(op.ignore_index))) {
        const auto k = static_cast<int64_t>(v);
        wt = w ? w[k] : 1.0;
        loss = -log_prob(b, i, k) * wt;
      }
      if (op.reduction == LossOp::Reduction::kNone) y[j] = static_cast<float>(loss);
      total += loss;
      weight_sum += wt;
    }
  }
  if (op.reduction == LossOp::Reduction::kSum) y[0] = static_cast<float>(total);
  if (op.reduction == LossOp::Reduction::kMean) y[0] = static_cast<float>(total / weight_sum);
  return absl::OkStatus();
}

// ---- LayerNormalization statistics ----
absl::Status Validate(const LayerNormStatsOp& op, absl::Span<const core::TensorView> in,
                      const core::MutableTensorView& out) {
  if (in.empty()) return Bad("LayerNormalization statistics read x");
  Q8_RETURN_IF_ERROR(CheckF32(in[0], "x"));
  Q8_RETURN_IF_ERROR(CheckAxis(op.axis, in[0].dims.size()));
  core::Dims want = in[0].dims;
  for (size_t d = op.axis; d < want.size(); ++d) want[d] = 1;
  if (out.dims != want || out.dtype != DataType::kFloat32) return Bad("statistics output dims");
  return absl::OkStatus();
}

absl::Status Run(const LayerNormStatsOp& op, absl::Span<const core::TensorView> in,
                 const core::MutableTensorView& out) {
  const core::Dims& d = in[0].dims;
  const int64_t outer = Prod(d, 0, op.axis), inner = Prod(d, op.axis, d.size());
  const float* x = In(in[0]);
  float* y = Out(out);
  for (int64_t o = 0; o < outer; ++o) {
    const float* row = x + o * inner;
    double mean = 0;
    for (int64_t i = 0; i < inner; ++i) mean += row[i];
    mean /= static_cast<double>(inner);
    double var = 0;
    for (int64_t i = 0; i < inner; ++i) var += (row[i] - mean) * (row[i] - mean);
    var /= static_cast<double>(inner);
    y[o] = static_cast<float>(op.inv_std_dev ? 1.0 / std::sqrt(var + op.epsilon) : mean);
  }
  return absl::OkStatus();
}

// Scale / bias element for flat position i of the normalized block
// (numpy broadcasting of v's dims, right-aligned, to `block`).
float Broadcast(const core::TensorView& v, const core::Dims& block, int64_t i) {
  const size_t lead = block.size() - v.dims.size();
  const Index vs = StridesOf(v.dims);
  int64_t off = 0;
  for (size_t k = block.size(); k-- > 0;) {
    const int64_t coord = i % block[k];
    i /= block[k];
    if (k >= lead && v.dims[k - lead] != 1) off += coord * vs[k - lead];
  }
  return In(v)[off];
}

absl::Status Validate(const LayerNormOp& op, absl::Span<const core::TensorView> in,
                      const core::MutableTensorView& out) {
  if (in.size() != (op.has_bias ? 3u : 2u)) return Bad("LayerNormalization reads x, scale and an optional bias");
  Q8_RETURN_IF_ERROR(ValidateSameF32(in, out, "LayerNormalization"));
  Q8_RETURN_IF_ERROR(CheckAxis(op.axis, in[0].dims.size()));
  const core::Dims block(in[0].dims.begin() + op.axis, in[0].dims.end());
  for (size_t i = 1; i < in.size(); ++i) {
    Q8_RETURN_IF_ERROR(CheckF32(in[i], "scale and bias"));
    core::Dims b;
    if (!BroadcastAll({in[i].dims, block}, &b) || b != block) return Bad("scale / bias do not broadcast to x[axis:]");
  }
  return absl::OkStatus();
}

absl::Status Run(const LayerNormOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const core::Dims& d = in[0].dims;
  const core::Dims block(d.begin() + op.axis, d.end());
  const int64_t outer = Prod(d, 0, op.axis), inner = Prod(d, op.axis, d.size());
  const float* x = In(in[0]);
  float* y = Out(out);
  for (int64_t o = 0; o < outer; ++o) {
    const float* row = x + o * inner;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < inner; ++i) mean += row[i];
    mean /= static_cast<double>(inner);
    for (int64_t i = 0; i < inner; ++i) var += (row[i] - mean) * (row[i] - mean);
    const double inv = 1.0 / std::sqrt(var / static_cast<double>(inner) + op.epsilon);
    for (int64_t i = 0; i < inner; ++i) {
      double v = (row[i] - mean) * inv * Broadcast(in[1], block, i);
      if (op.has_bias) v += Broadcast(in[2], block, i);
      y[o * inner + i] = static_cast<float>(v);
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const GemmOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != (op.has_c ? 3u : 2u)) return Bad("Gemm reads A, B and an optional C");
  for (const core::TensorView& v : in) Q8_RETURN_IF_ERROR(CheckF32(v, "Gemm operands"));
  const core::Dims& a = in[0].dims;
  const core::Dims& b = in[1].dims;
  if (a.size() != 2 || b.size() != 2) return Bad("Gemm needs 2-D A and B");
  const int64_t m = op.trans_a ? a[1] : a[0], k = op.trans_a ? a[0] : a[1];
  const int64_t kb = op.trans_b ? b[1] : b[0], n = op.trans_b ? b[0] : b[1];
  if (k != kb || out.dims != core::Dims{m, n} || out.dtype != DataType::kFloat32) return Bad("Gemm dims");
  core::Dims c;
  if (op.has_c && (!BroadcastAll({in[2].dims, out.dims}, &c) || c != out.dims)) {
    return Bad("Gemm's C does not broadcast to [M, N]");
  }
  return absl::OkStatus();
}

absl::Status Run(const GemmOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const core::Dims& a = in[0].dims;
  const core::Dims& b = in[1].dims;
  const int64_t m = out.dims[0], n = out.dims[1], k = op.trans_a ? a[0] : a[1];
  const float* pa = In(in[0]);
  const float* pb = In(in[1]);
  float* y = Out(out);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t t = 0; t < k; ++t) {
        const float av = op.trans_a ? pa[t * a[1] + i] : pa[i * a[1] + t];
        const float bv = op.trans_b ? pb[j * b[1] + t] : pb[t * b[1] + j];
        acc += static_cast<double>(av) * bv;
      }
      double v = op.alpha * acc;
      if (op.has_c) v += op.beta * Broadcast(in[2], out.dims, i * n + j);
      y[i * n + j] = static_cast<float>(v);
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const DropoutGateOp&, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 2) return Bad("the Dropout gate reads x and training_mode");
  Q8_RETURN_IF_ERROR(ValidateSameF32(in, out, "Dropout"));
  return CheckScalar(in[1], "training_mode");
}

absl::Status Run(const DropoutGateOp&, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (Load(in[1], 0) != 0.0) {
    return Bad("Dropout: training_mode is true; q8serve serves inference only and does not sample dropout masks");
  }
  std::memcpy(out.data, in[0].data, out.num_elements() * sizeof(float));
  return absl::OkStatus();
}

absl::Status Validate(const ReduceLogSumExpOp& op, absl::Span<const core::TensorView> in,
                      const core::MutableTensorView& out) {
  if (in.size() != 1) return Bad("ReduceLogSumExp reads one input");
  Q8_RETURN_IF_ERROR(CheckF32(in[0], "input"));
  const core::Dims& d = in[0].dims;
  if (d.size() > kMaxRank) return Bad(absl::StrCat("rank above ", kMaxRank));
  core::Dims want;
  for (size_t k = 0; k < d.size(); ++k) {
    const bool reduced = std::find(op.axes.begin(), op.axes.end(), static_cast<int64_t>(k)) != op.axes.end();
    if (!reduced) {
      want.push_back(d[k]);
    } else if (op.keepdims) {
      want.push_back(1);
    }
  }
  for (int64_t a : op.axes) {
    if (a < 0 || a >= static_cast<int64_t>(d.size())) return Bad("axis out of range");
  }
  if (out.dims != want || out.dtype != DataType::kFloat32) return Bad("ReduceLogSumExp output dims");
  return absl::OkStatus();
}

absl::Status Run(const ReduceLogSumExpOp& op, absl::Span<const core::TensorView> in,
                 const core::MutableTensorView& out) {
  const core::Dims& d = in[0].dims;
  const size_t rank = d.size();
  // Output strides over the input's axes (0 for reduced ones).
  core::Dims kept = d;
  for (int64_t a : op.axes) kept[a] = 1;
  const Index ks = StridesOf(kept);
  Index map{};
  for (size_t k = 0; k < rank; ++k) map[k] = kept[k] == 1 ? 0 : ks[k];
  const float* x = In(in[0]);
  float* y = Out(out);
  const int64_t m = out.num_elements();
  // One pass with the output as a running log-sum-exp (no scratch memory):
  // lse(a, b) = max + log1p(exp(-|a - b|)), stable for any magnitudes.
  for (int64_t i = 0; i < m; ++i) y[i] = -std::numeric_limits<float>::infinity();
  Index pos{};
  for (int64_t i = 0; i < in[0].num_elements(); ++i) {
    int64_t o = 0;
    for (size_t k = 0; k < rank; ++k) o += pos[k] * map[k];
    const double a = y[o], b = x[i];
    if (std::isinf(a) && a < 0) {
      y[o] = x[i];
    } else {
      y[o] = static_cast<float>(std::max(a, b) + std::log1p(std::exp(-std::fabs(a - b))));
    }
    for (size_t k = rank; k-- > 0;) {
      if (++pos[k] < d[k]) break;
      pos[k] = 0;
    }
  }
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
  absl::StatusOr<DataType> operator()(const TriluOp&) const { return Arity(1, 2, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const ModOp&) const { return Arity(2, 2, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const ClipOp&) const { return Arity(1, 3, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const LossOp&) const { return Arity(2, 3, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const LayerNormStatsOp&) const { return Arity(1, 3, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const LayerNormOp&) const { return Arity(2, 3, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const CumSumOp&) const { return Arity(2, 2, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const GemmOp&) const { return Arity(2, 3, DataType::kFloat32); }
  absl::StatusOr<DataType> operator()(const DropoutGateOp&) const { return Arity(2, 2, DataType::kFloat32); }
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
