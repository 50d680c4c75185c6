// Owns the plain C++ data ops of data_ops.h: validation (every index and
// dim checked against the tensors actually given) and execution, for any
// element type. Execution allocates nothing: odometers use fixed arrays, so
// ranks are capped at kMaxRank.
#include "kernels/data_ops.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/status_macros.h"

namespace q8::kernels {
namespace {

using core::DataType;
constexpr size_t kMaxRank = 16;
using Index = std::array<int64_t, kMaxRank>;

absl::Status Bad(absl::string_view what) { return absl::InvalidArgumentError(what); }

// Row-major element strides of `dims`, in a fixed array.
Index StridesOf(absl::Span<const int64_t> dims) {
  Index s{};
  int64_t acc = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

// ---- element conversion (Cast, fill values) ----

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds above 65504: inf
  if (abs < 0x38800000u) {  // subnormal half (or zero): value / 2^-24, rounded to nearest even
    float a;
    std::memcpy(&a, &abs, 4);
    const float scaled = a * 16777216.0f;  // exact (power of two)
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(scaled)));
  }
  // Normal: rebias exponent, round mantissa 23 -> 10 bits to nearest even.
  const uint32_t rebased = abs - 0x38000000u;
  const uint32_t rounded = rebased + 0xfffu + ((rebased >> 13) & 1u);
  return static_cast<uint16_t>(sign | (rounded >> 13));
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  float out;
  if (exp == 0) {
    out = std::ldexp(static_cast<float>(man), -24);
    if (sign) out = -out;
    return out;
  }
  const uint32_t bits = exp == 31 ? (sign | 0x7f800000u | (man << 13)) : (sign | ((exp + 112) << 23) | (man << 13));
  std::memcpy(&out, &bits, 4);
  return out;
}

uint16_t FloatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

float Bf16ToFloat(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float out;
  std::memcpy(&out, &x, 4);
  return out;
}

// One element in transit: floats as double, integers exactly as int64
// (uint64 as its bit pattern, with `is_unsigned`).
struct Num {
  bool is_float = false;
  bool is_unsigned = false;
  double f = 0;
  int64_t i = 0;
};

template <typename T>
T Read(const void* base, int64_t at) {
  T v;
  std::memcpy(&v, static_cast<const char*>(base) + at * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

template <typename T>
void Write(void* base, int64_t at, T v) {
  std::memcpy(static_cast<char*>(base) + at * static_cast<int64_t>(sizeof(T)), &v, sizeof(T));
}

Num Load(DataType t, const void* p, int64_t at) {
  Num n;
  switch (t) {
    case DataType::kBool:
      n.i = Read<uint8_t>(p, at) != 0;
      break;
    case DataType::kUInt8:
      n.i = Read<uint8_t>(p, at);
      break;
    case DataType::kUInt16:
      n.i = Read<uint16_t>(p, at);
      break;
    case DataType::kUInt32:
      n.i = Read<uint32_t>(p, at);
      break;
    case DataType::kUInt64:
      n.i = static_cast<int64_t>(Read<uint64_t>(p, at));
      n.is_unsigned = true;
      break;
    case DataType::kInt8:
      n.i = Read<int8_t>(p, at);
      break;
    case DataType::kInt16:
      n.i = Read<int16_t>(p, at);
      break;
    case DataType::kInt32:
      n.i = Read<int32_t>(p, at);
      break;
    case DataType::kInt64:
      n.i = Read<int64_t>(p, at);
      break;
    case DataType::kFloat16:
      n.is_float = true;
      n.f = HalfToFloat(Read<uint16_t>(p, at));
      break;
    case DataType::kBFloat16:
      n.is_float = true;
      n.f = Bf16ToFloat(Read<uint16_t>(p, at));
      break;
    case DataType::kFloat32:
      n.is_float = true;
      n.f = Read<float>(p, at);
      break;
    case DataType::kFloat64:
      n.is_float = true;
      n.f = Read<double>(p, at);
      break;
    default:
      break;
  }
  return n;
}

// Float to integer type T: truncation toward zero, saturated, NaN -> 0.
template <typename T>
T Saturate(double v) {
  if (std::isnan(v)) return 0;
  v = std::trunc(v);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

template <typename T>
T AsInt(const Num& n) {
  // Integer to integer wraps (two's complement), as numpy's astype does.
  return n.is_float ? Saturate<T>(n.f) : static_cast<T>(n.i);
}

double AsDouble(const Num& n) {
  if (n.is_float) return n.f;
  return n.is_unsigned ? static_cast<double>(static_cast<uint64_t>(n.i)) : static_cast<double>(n.i);
}

void Store(DataType t, void* p, int64_t at, const Num& n) {
  switch (t) {
    case DataType::kBool:
      Write<uint8_t>(p, at, n.is_float ? n.f != 0 : n.i != 0);
      break;
    case DataType::kUInt8:
      Write(p, at, AsInt<uint8_t>(n));
      break;
    case DataType::kUInt16:
      Write(p, at, AsInt<uint16_t>(n));
      break;
    case DataType::kUInt32:
      Write(p, at, AsInt<uint32_t>(n));
      break;
    case DataType::kUInt64:
      Write(p, at, AsInt<uint64_t>(n));
      break;
    case DataType::kInt8:
      Write(p, at, AsInt<int8_t>(n));
      break;
    case DataType::kInt16:
      Write(p, at, AsInt<int16_t>(n));
      break;
    case DataType::kInt32:
      Write(p, at, AsInt<int32_t>(n));
      break;
    case DataType::kInt64:
      Write(p, at, AsInt<int64_t>(n));
      break;
    case DataType::kFloat16:
      Write(p, at, FloatToHalf(static_cast<float>(AsDouble(n))));
      break;
    case DataType::kBFloat16:
      Write(p, at, FloatToBf16(static_cast<float>(AsDouble(n))));
      break;
    case DataType::kFloat32:
      Write(p, at, static_cast<float>(AsDouble(n)));
      break;
    case DataType::kFloat64:
      Write(p, at, AsDouble(n));
      break;
    default:
      break;
  }
}

bool Known(DataType t) { return t != DataType::kUndefined && t < DataType::kCount; }

// ---- broadcasting walk shared by Where and the logical ops ----

// Calls f(out_index, in_offsets) for every output element, where in
// offsets follow numpy broadcasting of each input's dims to `out`.
template <size_t N, typename F>
void ForEachBroadcast(const core::Dims& out, const std::array<const core::Dims*, N>& ins, F&& f) {
  const size_t rank = out.size();
  std::array<Index, N> strides{};
  for (size_t k = 0; k < N; ++k) {
    const core::Dims& dims = *ins[k];
    const Index s = StridesOf(dims);
    const size_t lead = rank - dims.size();  // implicit leading 1s
    for (size_t d = lead; d < rank; ++d) strides[k][d] = dims[d - lead] == 1 ? 0 : s[d - lead];
  }
  const int64_t total = core::NumElements(out);
  Index pos{};
  std::array<int64_t, N> off{};
  for (int64_t i = 0; i < total; ++i) {
    f(i, off);
    for (size_t d = rank; d-- > 0;) {
      if (++pos[d] < out[d]) {
        for (size_t k = 0; k < N; ++k) off[k] += strides[k][d];
        break;
      }
      for (size_t k = 0; k < N; ++k) off[k] -= strides[k][d] * (out[d] - 1);
      pos[d] = 0;
    }
  }
}

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
  if (in[0].dtype != DataType::kBool) return Bad("Where's condition must be BOOL");
  if (in[1].dtype != out.dtype || in[2].dtype != out.dtype) return Bad("Where's X, Y and output share a type");
  return CheckBroadcast(in, out);
}

absl::Status Validate(const CastOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 1) return Bad("Cast reads one input");
  if (!Known(in[0].dtype) || !Known(op.to) || out.dtype != op.to) return Bad("Cast types");
  if (in[0].dims != out.dims) return Bad("Cast keeps the dims");
  return absl::OkStatus();
}

absl::Status Validate(const LogicalOp& op, absl::Span<const core::TensorView> in,
                      const core::MutableTensorView& out) {
  const size_t arity = op.kind == LogicalOp::Kind::kNot ? 1 : 2;
  if (in.size() != arity) return Bad("logical op arity");
  for (const core::TensorView& v : in) {
    if (v.dtype != DataType::kBool) return Bad("logical ops read BOOL");
  }
  if (out.dtype != DataType::kBool) return Bad("logical ops write BOOL");
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
  Num fill_value;
  fill_value.is_float = true;
  fill_value.f = op.fill;
  Store(out.dtype, fill, 0, fill_value);
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
  const auto* cond = static_cast<const uint8_t*>(in[0].data);
  const char* x = static_cast<const char*>(in[1].data);
  const char* y = static_cast<const char*>(in[2].data);
  char* dst = static_cast<char*>(out.data);
  ForEachBroadcast<3>(out.dims, {&in[0].dims, &in[1].dims, &in[2].dims},
                      [&](int64_t i, const std::array<int64_t, 3>& off) {
                        const char* from = cond[off[0]] ? x + off[1] * esize : y + off[2] * esize;
                        std::memcpy(dst + i * esize, from, esize);
                      });
}

void Run(const CastOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const int64_t n = out.num_elements();
  if (in[0].dtype == op.to) {
    std::memcpy(out.data, in[0].data, n * core::SizeOf(op.to));
    return;
  }
  for (int64_t i = 0; i < n; ++i) Store(op.to, out.data, i, Load(in[0].dtype, in[0].data, i));
}

void Run(const LogicalOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  auto* dst = static_cast<uint8_t*>(out.data);
  const auto* a = static_cast<const uint8_t*>(in[0].data);
  if (op.kind == LogicalOp::Kind::kNot) {
    for (int64_t i = 0; i < out.num_elements(); ++i) dst[i] = a[i] == 0;
    return;
  }
  const auto* b = static_cast<const uint8_t*>(in[1].data);
  ForEachBroadcast<2>(out.dims, {&in[0].dims, &in[1].dims}, [&](int64_t i, const std::array<int64_t, 2>& off) {
    const bool p = a[off[0]] != 0, q = b[off[1]] != 0;
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
      if (in.size() != 3 || in[0] != DataType::kBool || in[1] != in[2]) {
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
        if (t != DataType::kBool) return Bad("logical ops read BOOL");
      }
      return DataType::kBool;
    }
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
  std::visit([&](const auto& o) { Run(o, inputs, output); }, op);
  return absl::OkStatus();
}

}  // namespace q8::kernels
