// Owns the plain C++ data ops of data_ops.h: validation (every index and
// dim checked against the tensors actually given) and execution, for any
// element type. Execution allocates nothing: odometers use fixed arrays, so
// ranks are capped at kMaxRank.
#include "kernels/data_ops.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/element_convert.h"
#include "core/status_macros.h"
#include "kernels/internal/broadcast_walk.h"

namespace q8::kernels {
namespace {

using core::DataType;
using internal::ForEachBroadcast;
using internal::Index;
using internal::kMaxRank;
using internal::StridesOf;

absl::Status Bad(absl::string_view what) { return absl::InvalidArgumentError(what); }

bool Known(DataType t) { return t != DataType::kUndefined && t < DataType::kCount; }

absl::Status CheckBroadcast(absl::Span<const core::TensorView> inputs, const core::MutableTensorView& output) {
  std::vector<core::Dims> shapes;
  for (const core::TensorView& v : inputs) shapes.push_back(v.dims);
  core::Dims out;
  if (!BroadcastAll(shapes, &out)) return Bad("input shapes do not broadcast");
  if (out != output.dims) return Bad(absl::StrCat("output must be ", core::DimsToString(out)));
  if (out.size() > kMaxRank) return Bad(absl::StrCat("rank above ", kMaxRank));
  return absl::OkStatus();
}

// ---- validation ----

absl::Status CheckCounts(absl::Span<const core::TensorView> inputs, const core::MutableTensorView& output) {
  for (const core::TensorView& v : inputs) {
    Q8_RETURN_IF_ERROR(core::CheckedNumElements(v.dims, "data op input").status());
  }
  Q8_RETURN_IF_ERROR(core::CheckedNumElements(output.dims, "data op output").status());
  return absl::OkStatus();
}

absl::Status Validate(const AxisMapOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 1) return Bad("an axis map reads one input");
  const size_t rank = op.in_dims.size();
  if (rank > kMaxRank) return Bad(absl::StrCat("rank above ", kMaxRank));
  if (op.out_dims.size() != rank || op.src_axis.size() != rank || op.index.size() != rank) {
    return Bad("axis map ranks disagree");
  }
  Q8_ASSIGN_OR_RETURN(int64_t in_count, core::CheckedNumElements(op.in_dims, "axis map input view"));
  Q8_ASSIGN_OR_RETURN(int64_t out_count, core::CheckedNumElements(op.out_dims, "axis map output view"));
  if (in_count != in[0].num_elements()) return Bad("input view does not match the input's element count");
  if (out_count != out.num_elements()) return Bad("output view does not match the output's element count");
  if (in[0].dtype != out.dtype) return Bad("an axis map keeps the element type");
  std::vector<bool> seen(rank, false);
  for (size_t d = 0; d < rank; ++d) {
    const int a = op.src_axis[d];
    if (a < 0 || static_cast<size_t>(a) >= rank || seen[a]) return Bad("src_axis is not a permutation");
    seen[a] = true;
    if (static_cast<int64_t>(op.index[d].size()) != op.out_dims[d]) return Bad("index map length differs from dim");
    for (int64_t i : op.index[d]) {
      if (i < -1 || i >= op.in_dims[a]) {
        return Bad(absl::StrCat("index ", i, " out of range for axis ", a, " of size ", op.in_dims[a]));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const ConcatOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.empty()) return Bad("Concat needs an input");
  const int rank = static_cast<int>(out.dims.size());
  if (op.axis < 0 || op.axis >= rank) return Bad("Concat axis out of range");
  int64_t sum = 0;
  for (const core::TensorView& v : in) {
    if (v.dtype != out.dtype) return Bad("Concat inputs must share the output's element type");
    if (static_cast<int>(v.dims.size()) != rank) return Bad("Concat inputs must share the output's rank");
    for (int d = 0; d < rank; ++d) {
      if (d != op.axis && v.dims[d] != out.dims[d]) return Bad("Concat inputs differ outside the axis");
    }
    const std::optional<int64_t> next = core::CheckedAdd(sum, v.dims[op.axis]);
    if (!next) return Bad("Concat size overflows");
    sum = *next;
  }
  if (sum != out.dims[op.axis]) return Bad("Concat output size differs from the inputs' sum");
  return absl::OkStatus();
}

absl::Status Validate(const WhereOp&, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 3) return Bad("Where reads condition, X and Y");
  if (in[0].dtype != DataType::kBool && in[0].dtype != DataType::kFloat32) return Bad("Where's condition must be BOOL");
  if (in[1].dtype != out.dtype || in[2].dtype != out.dtype) return Bad("Where's X, Y and output share a type");
  return CheckBroadcast(in, out);
}

absl::Status Validate(const CastOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 1) return Bad("Cast reads one input");
  if (!Known(in[0].dtype) || !Known(op.to) || out.dtype != op.to) return Bad("Cast types");
  if (in[0].dims != out.dims) return Bad("Cast keeps the dims");
  return absl::OkStatus();
}

absl::Status Validate(const LogicalOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const size_t arity = op.kind == LogicalOp::Kind::kNot ? 1 : 2;
  if (in.size() != arity) return Bad("logical op arity");
  for (const core::TensorView& v : in) {
    if (v.dtype != out.dtype) return Bad("logical ops read their output's type");
  }
  if (out.dtype != DataType::kBool && out.dtype != DataType::kFloat32) return Bad("logical ops write BOOL or FP32");
  return CheckBroadcast(in, out);
}

// ---- execution ----

template <int E>
void CopyElements(const char* src, const int64_t* index, int64_t n, int64_t stride, char* dst, const char* fill) {
  for (int64_t o = 0; o < n; ++o) {
    const int64_t i = index[o];
    std::memcpy(dst + o * E, i < 0 ? fill : src + i * stride * E, E);
  }
}

void Run(const AxisMapOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const int64_t esize = core::SizeOf(out.dtype);
  const size_t rank = op.in_dims.size();
  alignas(8) char fill[8] = {};
  // One element: cannot fail for a validated (numeric) output type. +0 is
  // all-zero bytes in every type, so the common fill needs no conversion.
  if (op.fill != 0.0 || std::signbit(op.fill)) {
    (void)core::ConvertElements({DataType::kFloat64, {}, &op.fill}, {out.dtype, {}, fill});
  }
  const char* src = static_cast<const char*>(in[0].data);
  char* dst = static_cast<char*>(out.data);
  if (rank == 0) {
    std::memcpy(dst, src, esize);
    return;
  }
  const Index in_strides = StridesOf(op.in_dims);
  Index stride{};  // per output axis, in input elements
  for (size_t d = 0; d < rank; ++d) stride[d] = in_strides[op.src_axis[d]];
  const size_t last = rank - 1;
  const int64_t inner = op.out_dims[last];
  if (inner == 0 || core::NumElements(op.out_dims) == 0) return;
  const int64_t* inner_index = op.index[last].data();
  // A run of consecutive source indices along a unit-stride axis is one memcpy.
  bool contiguous = stride[last] == 1;
  for (int64_t o = 0; contiguous && o < inner; ++o) contiguous = inner_index[o] == inner_index[0] + o;
  contiguous = contiguous && inner_index[0] >= 0;

  const int64_t outer = core::NumElements(absl::MakeConstSpan(op.out_dims).subspan(0, last));
  Index pos{};
  for (int64_t row = 0; row < outer; ++row) {
    int64_t base = 0;
    bool filled = false;
    for (size_t d = 0; d < last; ++d) {
      const int64_t i = op.index[d][pos[d]];
      if (i < 0) filled = true;
      base += i * stride[d];
    }
    char* row_dst = dst + row * inner * esize;
    if (filled) {
      for (int64_t o = 0; o < inner; ++o) std::memcpy(row_dst + o * esize, fill, esize);
    } else if (contiguous) {
      std::memcpy(row_dst, src + (base + inner_index[0]) * esize, inner * esize);
    } else {
      const char* row_src = src + base * esize;
      switch (esize) {
        case 1:
          CopyElements<1>(row_src, inner_index, inner, stride[last], row_dst, fill);
          break;
        case 2:
          CopyElements<2>(row_src, inner_index, inner, stride[last], row_dst, fill);
          break;
        case 4:
          CopyElements<4>(row_src, inner_index, inner, stride[last], row_dst, fill);
          break;
        default:
          CopyElements<8>(row_src, inner_index, inner, stride[last], row_dst, fill);
          break;
      }
    }
    for (size_t d = last; d-- > 0;) {
      if (++pos[d] < op.out_dims[d]) break;
      pos[d] = 0;
    }
  }
}

void Run(const ConcatOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const int64_t esize = core::SizeOf(out.dtype);
  const int64_t outer = core::NumElements(absl::MakeConstSpan(out.dims).subspan(0, op.axis));
  const int64_t inner = core::NumElements(absl::MakeConstSpan(out.dims).subspan(op.axis + 1));
  char* dst = static_cast<char*>(out.data);
  for (int64_t o = 0; o < outer; ++o) {
    for (const core::TensorView& v : in) {
      const int64_t chunk = v.dims[op.axis] * inner * esize;
      if (chunk == 0) continue;
      std::memcpy(dst, static_cast<const char*>(v.data) + o * chunk, chunk);
      dst += chunk;
    }
  }
}

void Run(const WhereOp&, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const int64_t esize = core::SizeOf(out.dtype);
  const bool f32 = in[0].dtype == DataType::kFloat32;
  const auto* cond = static_cast<const uint8_t*>(in[0].data);
  const auto* fcond = static_cast<const float*>(in[0].data);
  const char* x = static_cast<const char*>(in[1].data);
  const char* y = static_cast<const char*>(in[2].data);
  char* dst = static_cast<char*>(out.data);
  ForEachBroadcast<3>(out.dims, {&in[0].dims, &in[1].dims, &in[2].dims},
                      [&](int64_t i, const std::array<int64_t, 3>& off) {
                        const bool c = f32 ? fcond[off[0]] != 0.0f : cond[off[0]] != 0;
                        const char* from = c ? x + off[1] * esize : y + off[2] * esize;
                        std::memcpy(dst + i * esize, from, esize);
                      });
}

void Run(const CastOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in[0].dtype == op.to) {
    std::memcpy(out.data, in[0].data, out.num_elements() * core::SizeOf(op.to));
    return;
  }
  (void)core::ConvertElements(in[0], out);  // validated: same count, numeric types
}

template <typename T>
void RunLogical(const LogicalOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  auto* dst = static_cast<T*>(out.data);
  const auto* a = static_cast<const T*>(in[0].data);
  if (op.kind == LogicalOp::Kind::kNot) {
    for (int64_t i = 0; i < out.num_elements(); ++i) dst[i] = a[i] == T{0};
    return;
  }
  const auto* b = static_cast<const T*>(in[1].data);
  ForEachBroadcast<2>(out.dims, {&in[0].dims, &in[1].dims}, [&](int64_t i, const std::array<int64_t, 2>& off) {
    const bool p = a[off[0]] != T{0}, q = b[off[1]] != T{0};
    switch (op.kind) {
      case LogicalOp::Kind::kAnd:
        dst[i] = p && q;
        break;
      case LogicalOp::Kind::kOr:
        dst[i] = p || q;
        break;
      default:
        dst[i] = p != q;
        break;
    }
  });
}

void Run(const LogicalOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (out.dtype == DataType::kFloat32) {
    RunLogical<float>(op, in, out);
  } else {
    RunLogical<uint8_t>(op, in, out);
  }
}

absl::Status Validate(const ValueOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  return ValidateValueOp(op, in, out);
}

}  // namespace

bool BroadcastAll(absl::Span<const core::Dims> shapes, core::Dims* out) {
  core::Dims acc;
  for (const core::Dims& s : shapes) {
    core::Dims next;
    if (!core::BroadcastShapes(acc, s, &next)) return false;
    acc = std::move(next);
  }
  *out = std::move(acc);
  return true;
}

absl::StatusOr<DataType> DataOpOutputType(const DataOp& op, absl::Span<const DataType> in) {
  struct Visitor {
    absl::Span<const DataType> in;
    absl::StatusOr<DataType> operator()(const AxisMapOp&) const {
      if (in.size() != 1) return Bad("an axis map reads one input");
      return in[0];
    }
    absl::StatusOr<DataType> operator()(const ConcatOp&) const {
      if (in.empty()) return Bad("Concat needs an input");
      for (DataType t : in) {
        if (t != in[0]) return Bad("Concat inputs must share one element type");
      }
      return in[0];
    }
    absl::StatusOr<DataType> operator()(const WhereOp&) const {
      if (in.size() != 3 || (in[0] != DataType::kBool && in[0] != DataType::kFloat32) || in[1] != in[2]) {
        return Bad("Where reads a BOOL condition and two inputs of one type");
      }
      return in[1];
    }
    absl::StatusOr<DataType> operator()(const CastOp& c) const {
      if (in.size() != 1 || !Known(in[0]) || !Known(c.to)) return Bad("Cast between numeric types only");
      return c.to;
    }
    absl::StatusOr<DataType> operator()(const LogicalOp& l) const {
      if (in.size() != (l.kind == LogicalOp::Kind::kNot ? 1u : 2u)) return Bad("logical op arity");
      for (DataType t : in) {
        if (t != in[0] || (t != DataType::kBool && t != DataType::kFloat32)) {
          return Bad("logical ops read BOOL (FP32 0/1 at run time)");
        }
      }
      return in[0];
    }
    absl::StatusOr<DataType> operator()(const ValueOp& v) const { return ValueOpOutputType(v, in); }
  };
  return std::visit(Visitor{in}, op);
}

absl::Status ValidateDataOp(const DataOp& op, absl::Span<const core::TensorView> inputs,
                            const core::MutableTensorView& output) {
  Q8_RETURN_IF_ERROR(CheckCounts(inputs, output));
  std::vector<DataType> types;
  for (const core::TensorView& v : inputs) types.push_back(v.dtype);
  Q8_ASSIGN_OR_RETURN(DataType expected, DataOpOutputType(op, types));
  if (expected != output.dtype) return Bad("output element type differs from the op's result type");
  return std::visit([&](const auto& o) { return Validate(o, inputs, output); }, op);
}

absl::Status RunDataOp(const DataOp& op, absl::Span<const core::TensorView> inputs,
                       const core::MutableTensorView& output, bool validated) {
  if (!validated) {
    Q8_RETURN_IF_ERROR(ValidateDataOp(op, inputs, output));
    for (const core::TensorView& v : inputs) {
      if (v.data == nullptr && v.num_elements() > 0) return Bad("input without data");
    }
    if (output.data == nullptr && output.num_elements() > 0) return Bad("output without data");
  }
  if (core::NumElements(output.dims) == 0) return absl::OkStatus();
  if (const auto* v = std::get_if<ValueOp>(&op)) return RunValueOp(*v, inputs, output);
  std::visit(
      [&](const auto& o) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(o)>, ValueOp>) Run(o, inputs, output);
      },
      op);
  return absl::OkStatus();
}

}  // namespace q8::kernels
