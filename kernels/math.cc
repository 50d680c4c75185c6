// Owns PRelu with a constant slope (oneDNN prelu) and the plain-C++
// element-wise kernel (MathParams): unary math oneDNN 2.6
// has no eltwise algorithm for (Erf, Floor, Ceil, Softsign, trigonometry,
// Shrink, IsNaN / IsInf...)
// and binary ops with numpy broadcasting of both operands (Pow, PRelu with a
// runtime slope, and Sub/Div/
// comparisons when the first operand is the one that broadcasts, which the
// oneDNN binary primitive cannot express). f32, plain layout only. Loops are
// simple enough for GCC to vectorise; large tensors split across the
// calling thread's OpenMP team.
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {
namespace {

using K = MathParams::Kind;
[[maybe_unused]] constexpr int64_t kParallelMin = 1 << 15;  // unused where OpenMP is off

template <typename F>
void Unary(const float* x, float* y, int64_t n, F f) {
#pragma omp parallel for if (n >= kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

void RunUnary(const MathParams& p, const float* x, float* y, int64_t n) {
  switch (p.kind) {
    case K::kErf:
      return Unary(x, y, n, [](float v) { return std::erf(v); });
    case K::kFloor:
      return Unary(x, y, n, [](float v) { return std::floor(v); });
    case K::kCeil:
      return Unary(x, y, n, [](float v) { return std::ceil(v); });
    case K::kSoftsign:
      return Unary(x, y, n, [](float v) { return v / (1.0f + std::fabs(v)); });
    case K::kThresholdedRelu: {
      const float alpha = p.alpha;
      return Unary(x, y, n, [alpha](float v) { return v > alpha ? v : 0.0f; });
    }
    case K::kCelu: {
      const float alpha = p.alpha;
      return Unary(x, y, n, [alpha](float v) { return v > 0.0f ? v : alpha * std::expm1(v / alpha); });
    }
    case K::kSign:
      return Unary(x, y, n, [](float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : v); });
    case K::kSin:
      return Unary(x, y, n, [](float v) { return std::sin(v); });
    case K::kCos:
      return Unary(x, y, n, [](float v) { return std::cos(v); });
    case K::kTan:
      return Unary(x, y, n, [](float v) { return std::tan(v); });
    case K::kAsin:
      return Unary(x, y, n, [](float v) { return std::asin(v); });
    case K::kAcos:
      return Unary(x, y, n, [](float v) { return std::acos(v); });
    case K::kAtan:
      return Unary(x, y, n, [](float v) { return std::atan(v); });
    case K::kSinh:
      return Unary(x, y, n, [](float v) { return std::sinh(v); });
    case K::kCosh:
      return Unary(x, y, n, [](float v) { return std::cosh(v); });
    case K::kAsinh:
      return Unary(x, y, n, [](float v) { return std::asinh(v); });
    case K::kAcosh:
      return Unary(x, y, n, [](float v) { return std::acosh(v); });
    case K::kAtanh:
      return Unary(x, y, n, [](float v) { return std::atanh(v); });
    case K::kShrink: {
      const float lambd = p.alpha, bias = p.beta;
      return Unary(x, y, n, [lambd, bias](float v) { return v < -lambd ? v + bias : v > lambd ? v - bias : 0.0f; });
    }
    case K::kIsNaN:
      return Unary(x, y, n, [](float v) { return std::isnan(v) ? 1.0f : 0.0f; });
    case K::kIsInf: {
      const bool pos = p.alpha != 0.0f, neg = p.beta != 0.0f;
      return Unary(x, y, n, [pos, neg](float v) {
        return (pos && v == std::numeric_limits<float>::infinity()) ||
                       (neg && v == -std::numeric_limits<float>::infinity())
                   ? 1.0f
                   : 0.0f;
      });
    }
    default:
      return;
  }
}

// Calls `body` with the binary op as a functor, so the per-element loop is
// compiled once per op (and can vectorise) instead of switching per element.
template <typename Body>
void WithBinaryOp(K kind, Body body) {
  switch (kind) {
    case K::kPow:
      return body([](float a, float b) { return std::pow(a, b); });
    case K::kPRelu:
      return body([](float a, float b) { return a < 0.0f ? a * b : a; });
    case K::kAdd:
      return body([](float a, float b) { return a + b; });
    case K::kSub:
      return body([](float a, float b) { return a - b; });
    case K::kMul:
      return body([](float a, float b) { return a * b; });
    case K::kDiv:
      return body([](float a, float b) { return a / b; });
    case K::kMax:
      return body([](float a, float b) { return std::fmax(a, b); });
    case K::kMin:
      return body([](float a, float b) { return std::fmin(a, b); });
    case K::kEqual:
      return body([](float a, float b) { return a == b ? 1.0f : 0.0f; });
    case K::kGreater:
      return body([](float a, float b) { return a > b ? 1.0f : 0.0f; });
    case K::kGreaterOrEqual:
      return body([](float a, float b) { return a >= b ? 1.0f : 0.0f; });
    case K::kLess:
      return body([](float a, float b) { return a < b ? 1.0f : 0.0f; });
    case K::kLessOrEqual:
      return body([](float a, float b) { return a <= b ? 1.0f : 0.0f; });
    default:
      return body([](float, float) { return 0.0f; });
  }
}

// Element strides of an operand read as broadcast to `out` (0 on stretched
// dims), from its desc (plain or NHWC) and its logical dims.
absl::StatusOr<std::vector<int64_t>> BroadcastStrides(const dnnl::memory::desc& md, const core::Dims& dims,
                                                      const core::Dims& out) {
  std::vector<int64_t> strides(out.size(), 0);
  if (dims.empty()) return strides;
  Q8_ASSIGN_OR_RETURN(dnnl::memory::dims physical, StridesOf(md));
  for (size_t k = 0; k < dims.size(); ++k) {
    const size_t i = dims.size() - 1 - k, o = out.size() - 1 - k;
    strides[o] = dims[i] == 1 ? 0 : physical[i];
  }
  return strides;
}

class MathKernel final : public Kernel {
 public:
  MathKernel(MathParams p, std::vector<Operand> inputs, dnnl::memory::desc dst, ArgMap constants, core::Dims out,
             std::vector<int64_t> sa, std::vector<int64_t> sb, std::vector<int64_t> sy)
      : Kernel("cpp:math", std::move(inputs), {{DNNL_ARG_DST, dst}}, std::move(constants)),
        p_(std::move(p)),
        out_(std::move(out)),
        size_(core::NumElements(out_)),
        sa_(std::move(sa)),
        sb_(std::move(sb)),
        sy_(std::move(sy)) {}

  void Execute(dnnl::stream&, const BoundArgs& args) const override {
    float* y = static_cast<float*>(args.memories.at(DNNL_ARG_DST).get_data_handle());
    const float* a = static_cast<const float*>(args.memories.at(DNNL_ARG_SRC_0).get_data_handle());
    // Unary: same dims and layout on both sides, so bytes map one to one.
    if (!IsBinaryMath(p_.kind)) return RunUnary(p_, a, y, size_);
    const float* b = static_cast<const float*>(args.memories.at(DNNL_ARG_SRC_1).get_data_handle());
    const int rank = static_cast<int>(out_.size());
    const int64_t inner = rank == 0 ? 1 : out_[rank - 1];
    const int64_t ia = rank == 0 ? 0 : sa_[rank - 1], ib = rank == 0 ? 0 : sb_[rank - 1];
    const int64_t iy = rank == 0 ? 1 : sy_[rank - 1];
    const int64_t rows = size_ / inner;
    WithBinaryOp(p_.kind, [&](auto op) {
#pragma omp parallel for if (size_ >= kParallelMin) schedule(static)
      for (int64_t row = 0; row < rows; ++row) {
        int64_t rem = row, oa = 0, ob = 0, oy = 0;
        for (int d = rank - 2; d >= 0; --d) {
          const int64_t idx = rem % out_[d];
          rem /= out_[d];
          oa += idx * sa_[d];
          ob += idx * sb_[d];
          oy += idx * sy_[d];
        }
        for (int64_t i = 0; i < inner; ++i) y[oy + i * iy] = op(a[oa + i * ia], b[ob + i * ib]);
      }
    });
  }

 private:
  MathParams p_;
  core::Dims out_;
  int64_t size_;
  std::vector<int64_t> sa_, sb_, sy_;
};

}  // namespace

KernelOr Create(const PReluParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  if (src.dtype != core::DataType::kFloat32 || dst.dtype != core::DataType::kFloat32 || src.dims != dst.dims ||
      src.layout != dst.layout) {
    return Invalid(r, "needs f32 input and output of equal dims and layout");
  }
  if (p.slope == nullptr || p.slope->dtype() != core::DataType::kFloat32 || p.slope->dims().size() > src.dims.size()) {
    return Invalid(r, "slope must be f32 of at most the input's rank");
  }
  const core::Dims padded = core::PadLeft(p.slope->dims(), src.dims.size());
  for (size_t i = 0; i < padded.size(); ++i) {
    if (padded[i] != 1 && padded[i] != src.dims[i]) return Invalid(r, "slope does not broadcast to the input");
  }
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc md, DescOf(src));
  const dnnl::memory::desc slope_plain = PlainDesc(padded, dnnl::memory::data_type::f32);
  const dnnl::memory::desc slope_any(padded, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
  dnnl::prelu_forward::desc desc(dnnl::prop_kind::forward_inference, md, slope_any);
  dnnl::prelu_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
  ArgMap constants;
  Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_WEIGHTS], r.weights.Get(p.slope, slope_plain, pd.weights_desc()));
  return std::make_unique<Kernel>(dnnl::prelu_forward(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, md}},
                                  std::vector<Operand>{{DNNL_ARG_DST, md}}, std::move(constants));
}

KernelOr Create(const MathParams& p, const KernelRequest& r) {
  const bool binary = IsBinaryMath(p.kind);
  const bool constant = binary && p.constant != nullptr;
  Q8_RETURN_IF_ERROR(ExpectArity(r, binary && !constant ? 2 : 1, 1));
  std::vector<const ValueSpec*> values = r.inputs;
  values.push_back(r.outputs[0]);
  for (const ValueSpec* v : values) {
    if (v->dtype != core::DataType::kFloat32) return Invalid(r, "needs f32 values");
  }
  const core::Dims& out = r.outputs[0]->dims;
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(*r.outputs[0]));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc in0_md, DescOf(*r.inputs[0]));
  if (!binary) {
    if (r.inputs[0]->dims != out || r.inputs[0]->layout != r.outputs[0]->layout) {
      return Invalid(r, "input and output dims and layout differ");
    }
    return std::make_unique<MathKernel>(p, std::vector<Operand>{{DNNL_ARG_SRC_0, in0_md}}, dst_md, ArgMap{}, out,
                                        std::vector<int64_t>{}, std::vector<int64_t>{}, std::vector<int64_t>{});
  }
  if (constant && p.constant->dtype() != core::DataType::kFloat32) return Invalid(r, "constant must be f32");
  const bool const_a = constant && p.constant_operand == 0;
  dnnl::memory::desc const_md;
  if (constant) const_md = PlainDesc(p.constant->dims(), dnnl::memory::data_type::f32);
  const core::Dims& a = const_a ? p.constant->dims() : r.inputs[0]->dims;
  const dnnl::memory::desc& a_md = const_a ? const_md : in0_md;
  dnnl::memory::desc b_md = const_md;
  core::Dims b;
  if (!constant) {
    Q8_ASSIGN_OR_RETURN(b_md, DescOf(*r.inputs[1]));
    b = r.inputs[1]->dims;
  } else if (const_a) {
    b_md = in0_md;
    b = r.inputs[0]->dims;
  } else {
    b = p.constant->dims();
  }
  core::Dims expected;
  if (!core::BroadcastShapes(a, b, &expected) || expected != out) {
    return Invalid(r, absl::StrCat("operands ", core::DimsToString(a), " and ", core::DimsToString(b),
                                   " do not broadcast to the output"));
  }
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> sa, BroadcastStrides(a_md, a, out));
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> sb, BroadcastStrides(b_md, b, out));
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> sy, BroadcastStrides(dst_md, out, out));
  std::vector<Operand> inputs;
  ArgMap constants;
  if (constant) {
    const int const_arg = const_a ? DNNL_ARG_SRC_0 : DNNL_ARG_SRC_1;
    Q8_ASSIGN_OR_RETURN(constants[const_arg], r.weights.Get(p.constant, const_md, const_md));
    inputs.push_back({const_a ? DNNL_ARG_SRC_1 : DNNL_ARG_SRC_0, in0_md});
  } else {
    inputs = {{DNNL_ARG_SRC_0, in0_md}, {DNNL_ARG_SRC_1, b_md}};
  }
  return std::make_unique<MathKernel>(p, std::move(inputs), dst_md, std::move(constants), out, std::move(sa),
                                      std::move(sb), std::move(sy));
}

}  // namespace q8::kernels::internal
