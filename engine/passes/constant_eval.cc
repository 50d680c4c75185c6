// Constant evaluation, written for clarity rather than speed: tensors here are
// shape vectors and the odd weight, evaluated once per model load.
#include "engine/passes/constant_eval.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/status_macros.h"
#include "engine/ops/data_op.h"
#include "engine/ops/op_table.h"
#include "kernels/data_ops.h"

namespace q8::engine {
namespace {

using TensorPtr = std::shared_ptr<const core::Tensor>;
using Outputs = std::vector<TensorPtr>;

const std::set<std::string>& Evaluable() {
  static const auto* ops = new std::set<std::string>{"Constant", "Identity", "Reshape", "Flatten", "Squeeze",
                                                     "Unsqueeze", "Shape", "Size", "Range", "ConstantOfShape", "Neg",
                                                     "Abs", "Sign", "Add", "Sub", "Mul", "Div", "Mod", "Pow",
                                                     // Comparisons: exporters build shapes with them (PyTorch's
                                                     // expand(-1, n, -1) becomes Where(Equal(shape, -1), 1, shape)).
                                                     "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"};
  return *ops;
}

// Reads element i of a float/int tensor as double (all constant math is done in double).
double Get(const core::Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case core::DataType::kFloat32:
      return t.span<float>()[i];
    case core::DataType::kFloat64:
      return t.span<double>()[i];
    case core::DataType::kInt64:
      return static_cast<double>(t.span<int64_t>()[i]);
    case core::DataType::kInt32:
      return t.span<int32_t>()[i];
    default:
      return 0;
  }
}

void Put(core::Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case core::DataType::kFloat32:
      t.span<float>()[i] = static_cast<float>(v);
      break;
    case core::DataType::kFloat64:
      t.span<double>()[i] = v;
      break;
    case core::DataType::kInt64:
      t.span<int64_t>()[i] = static_cast<int64_t>(v);
      break;
    case core::DataType::kInt32:
      t.span<int32_t>()[i] = static_cast<int32_t>(v);
      break;
    case core::DataType::kBool:
      t.span<uint8_t>()[i] = v != 0;
      break;
    default:
      break;
  }
}

bool Numeric(core::DataType t) {
  return t == core::DataType::kFloat32 || t == core::DataType::kFloat64 || t == core::DataType::kInt64 ||
         t == core::DataType::kInt32;
}

std::vector<int64_t> Strides(const core::Dims& d) {
  std::vector<int64_t> s(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * d[i + 1];
  return s;
}

TensorPtr WithDims(const core::Tensor& t, core::Dims dims) {
  auto out = std::make_shared<core::Tensor>(t.Clone());
  out->Reshape(std::move(dims));
  return out;
}

absl::StatusOr<Outputs> Elementwise(const Node& n, const core::Tensor& a, const core::Tensor& b) {
  core::Dims out_dims;
  if (!core::BroadcastShapes(a.dims(), b.dims(), &out_dims) || a.dtype() != b.dtype()) {
    return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": operands do not broadcast"));
  }
  Q8_RETURN_IF_ERROR(core::CheckedByteSize(a.dtype(), out_dims, n.Describe()).status());
  std::function<double(double, double)> f;
  bool comparison = true;  // BOOL result
  if (n.op_type == "Equal") f = std::equal_to<double>();
  if (n.op_type == "Less") f = std::less<double>();
  if (n.op_type == "LessOrEqual") f = std::less_equal<double>();
  if (n.op_type == "Greater") f = std::greater<double>();
  if (n.op_type == "GreaterOrEqual") f = std::greater_equal<double>();
  if (!f) comparison = false;
  if (n.op_type == "Add") f = std::plus<double>();
  if (n.op_type == "Sub") f = std::minus<double>();
  if (n.op_type == "Mul") f = std::multiplies<double>();
  if (n.op_type == "Div") {
    const bool integer = a.dtype() == core::DataType::kInt64 || a.dtype() == core::DataType::kInt32;
    f = [integer](double x, double y) { return integer ? std::trunc(x / y) : x / y; };
  }
  // Swin's head scale (C // heads) ** -0.5, C from the input's shape.
  if (n.op_type == "Pow") f = [](double x, double y) { return std::pow(x, y); };
  if (n.op_type == "Mod") {
    // Swin's window padding: (w - W % w) % w. fmod 0: the sign of the divisor (Python's %).
    Q8_ASSIGN_OR_RETURN(int64_t fmod, n.attrs.GetInt("fmod", 0));
    const bool integer = a.dtype() == core::DataType::kInt64 || a.dtype() == core::DataType::kInt32;
    if (integer) {
      for (int64_t i = 0; i < b.num_elements(); ++i) {
        if (Get(b, i) == 0) return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": integer Mod by zero"));
      }
    }
    f = [fmod](double x, double y) {
      const double r = std::fmod(x, y);
      return fmod == 0 && r != 0 && ((r < 0) != (y < 0)) ? r + y : r;
    };
  }
  auto out = std::make_shared<core::Tensor>(comparison ? core::DataType::kBool : a.dtype(), out_dims);
  const size_t rank = out_dims.size();
  const core::Dims ad = core::PadLeft(a.dims(), rank), bd = core::PadLeft(b.dims(), rank);
  const auto as = Strides(ad), bs = Strides(bd), os = Strides(out_dims);
  for (int64_t i = 0; i < out->num_elements(); ++i) {
    int64_t ai = 0, bi = 0, rem = i;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t idx = rem / os[d];
      rem %= os[d];
      ai += (ad[d] == 1 ? 0 : idx) * as[d];
      bi += (bd[d] == 1 ? 0 : idx) * bs[d];
    }
    Put(*out, i, f(Get(a, ai), Get(b, bi)));
  }
  return Outputs{out};
}

// Neg, Abs, Sign: what exported shape arithmetic applies to integer
// constants (LayerNormalization's expansion negates its axis), in the input's type.
absl::StatusOr<Outputs> Unary(const Node& n, const core::Tensor& x) {
  if (!Numeric(x.dtype())) return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": non-numeric"));
  auto out = std::make_shared<core::Tensor>(x.dtype(), x.dims());
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    const double v = Get(x, i);
    double y = 0;
    if (n.op_type == "Neg") y = -v;
    if (n.op_type == "Abs") y = std::fabs(v);
    if (n.op_type == "Sign") y = v > 0 ? 1 : v < 0 ? -1 : v;  // NaN stays NaN
    Put(*out, i, y);
  }
  return Outputs{out};
}

// A data-movement node (data_op.h) over constant inputs: the same resolution
// and kernels as the runtime steps, so each op is written once.
absl::StatusOr<Outputs> DataOpNode(const Graph& g, const Node& n, int64_t opset) {
  OpContext ctx{g, n, opset, {}};
  for (ValueId in : n.inputs) ctx.input_dims.push_back(in == kNoValue ? core::Dims{} : g.value(in).constant->dims());
  Q8_ASSIGN_OR_RETURN(ResolvedDataOp r, ResolveDataOp(ctx));
  std::vector<core::TensorView> views;
  std::vector<core::DataType> types;
  for (int i : r.data_inputs) {
    const core::Tensor& t = *g.value(n.inputs[i]).constant;
    if (!t.has_storage() && t.num_elements() > 0) return absl::InvalidArgumentError("constant without data");
    views.push_back(t.view());
    types.push_back(t.dtype());
  }
  Outputs outs;
  for (const ResolvedDataOp::Output& o : r.outputs) {
    Q8_ASSIGN_OR_RETURN(core::DataType dtype, kernels::DataOpOutputType(o.op, types));
    Q8_RETURN_IF_ERROR(core::CheckedByteSize(dtype, o.dims, n.Describe()).status());
    auto out = std::make_shared<core::Tensor>(dtype, o.dims);
    Q8_RETURN_IF_ERROR(kernels::RunDataOp(o.op, views, out->mutable_view()));
    outs.push_back(std::move(out));
  }
  return outs;
}

// A scalar or 1-element input as double (Range bounds, ConstantOfShape values).
absl::StatusOr<double> Scalar(const core::Tensor& t, const Node& n) {
  if (t.num_elements() != 1 || !Numeric(t.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": expected a numeric scalar"));
  }
  return Get(t, 0);
}

absl::StatusOr<Outputs> Range(const Graph& g, const Node& n) {
  const core::Tensor& start_t = *g.value(n.inputs[0]).constant;
  Q8_ASSIGN_OR_RETURN(double start, Scalar(start_t, n));
  Q8_ASSIGN_OR_RETURN(double limit, Scalar(*g.value(n.inputs[1]).constant, n));
  Q8_ASSIGN_OR_RETURN(double delta, Scalar(*g.value(n.inputs[2]).constant, n));
  if (delta == 0 || !std::isfinite(start) || !std::isfinite(limit) || !std::isfinite(delta)) {
    return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": Range needs finite bounds and a non-zero delta"));
  }
  const double count = std::max(std::ceil((limit - start) / delta), 0.0);
  if (count > static_cast<double>(core::MaxTensorBytes())) {
    return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": Range has too many elements"));
  }
  const core::Dims dims{static_cast<int64_t>(count)};
  Q8_RETURN_IF_ERROR(core::CheckedByteSize(start_t.dtype(), dims, n.Describe()).status());
  auto out = std::make_shared<core::Tensor>(start_t.dtype(), dims);
  if (start_t.dtype() == core::DataType::kInt64) {
    // Exact in int64 (a double loses large starts); |start + i * delta| stays below |limit| + |delta|.
    const auto s0 = static_cast<int64_t>(start), d = static_cast<int64_t>(delta);
    for (int64_t i = 0; i < dims[0]; ++i) out->span<int64_t>()[i] = s0 + i * d;
  } else {
    for (int64_t i = 0; i < dims[0]; ++i) Put(*out, i, start + static_cast<double>(i) * delta);
  }
  return Outputs{out};
}

absl::StatusOr<Outputs> ConstantOfShape(const Graph& g, const Node& n) {
  const core::Tensor& shape = *g.value(n.inputs[0]).constant;
  if (shape.dtype() != core::DataType::kInt64 || shape.dims().size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": the shape input must be a 1-D INT64 tensor"));
  }
  const core::Dims dims(shape.span<int64_t>().begin(), shape.span<int64_t>().end());
  TensorPtr value;
  if (n.attrs.Has("value")) {
    Q8_ASSIGN_OR_RETURN(value, n.attrs.GetTensor("value"));
  }
  const core::DataType dtype = value ? value->dtype() : core::DataType::kFloat32;
  if (value && value->num_elements() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": value must hold one element"));
  }
  Q8_ASSIGN_OR_RETURN(int64_t bytes, core::CheckedByteSize(dtype, dims, n.Describe()));
  auto out = std::make_shared<core::Tensor>(dtype, dims);
  const int64_t esize = core::SizeOf(dtype);
  if (value) {
    for (int64_t at = 0; at < bytes; at += esize) {
      std::memcpy(static_cast<char*>(out->data()) + at, value->data(), esize);
    }
  }
  return Outputs{out};
}

absl::StatusOr<Outputs> ShapeNode(const Node& n, const core::Dims& x_dims) {
  const int64_t rank = x_dims.size();
  Q8_ASSIGN_OR_RETURN(int64_t start, n.attrs.GetInt("start", 0));
  Q8_ASSIGN_OR_RETURN(int64_t end, n.attrs.GetInt("end", rank));
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);
  auto t = std::make_shared<core::Tensor>(core::DataType::kInt64, core::Dims{end - start});
  std::copy(x_dims.begin() + start, x_dims.begin() + end, t->span<int64_t>().begin());
  return Outputs{t};
}

absl::StatusOr<Outputs> ConstantNode(const Node& n) {
  if (n.attrs.Has("value")) {
    Q8_ASSIGN_OR_RETURN(TensorPtr t, n.attrs.GetTensor("value"));
    return Outputs{t};
  }
  if (n.attrs.Has("value_float")) {
    Q8_ASSIGN_OR_RETURN(float v, n.attrs.GetFloat("value_float", 0));
    return Outputs{std::make_shared<core::Tensor>(core::Tensor::FromFloats({}, {v}))};
  }
  if (n.attrs.Has("value_int")) {
    Q8_ASSIGN_OR_RETURN(int64_t v, n.attrs.GetInt("value_int", 0));
    auto t = std::make_shared<core::Tensor>(core::DataType::kInt64, core::Dims{});
    t->span<int64_t>()[0] = v;
    return Outputs{t};
  }
  if (n.attrs.Has("value_ints")) {
    Q8_ASSIGN_OR_RETURN(std::vector<int64_t> v, n.attrs.GetInts("value_ints", {}));
    auto t = std::make_shared<core::Tensor>(core::DataType::kInt64, core::Dims{static_cast<int64_t>(v.size())});
    std::copy(v.begin(), v.end(), t->span<int64_t>().begin());
    return Outputs{t};
  }
  if (n.attrs.Has("value_floats")) {
    Q8_ASSIGN_OR_RETURN(std::vector<float> v, n.attrs.GetFloats("value_floats"));
    return Outputs{std::make_shared<core::Tensor>(core::Tensor::FromFloats({static_cast<int64_t>(v.size())}, v))};
  }
  return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": unsupported Constant attribute"));
}

}  // namespace

absl::StatusOr<Outputs> EvaluateShapeOf(const Node& n, const core::Dims& input_dims) {
  if (n.op_type == "Shape") return ShapeNode(n, input_dims);
  if (n.op_type != "Size") return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": not Shape or Size"));
  auto t = std::make_shared<core::Tensor>(core::DataType::kInt64, core::Dims{});
  t->span<int64_t>()[0] = core::NumElements(input_dims);
  return Outputs{t};
}

bool CanEvaluateConstant(const std::string& op_type) { return Evaluable().count(op_type) > 0 || IsDataOp(op_type); }

absl::StatusOr<Outputs> EvaluateConstantNode(const Graph& g, const Node& n, int64_t opset) {
  if (n.op_type == "Constant") return ConstantNode(n);
  const core::Tensor& x = *g.value(n.inputs[0]).constant;
  if (n.op_type == "Identity") return Outputs{g.value(n.inputs[0]).constant};
  if (IsDataOp(n.op_type)) return DataOpNode(g, n, opset);
  if (n.op_type == "Shape" || n.op_type == "Size") return EvaluateShapeOf(n, x.dims());
  if (n.op_type == "Range") return Range(g, n);
  if (n.op_type == "ConstantOfShape") return ConstantOfShape(g, n);
  if (n.op_type == "Neg" || n.op_type == "Abs" || n.op_type == "Sign") return Unary(n, x);
  if (n.op_type == "Add" || n.op_type == "Sub" || n.op_type == "Mul" || n.op_type == "Div" || n.op_type == "Mod" ||
      n.op_type == "Pow" || n.op_type == "Equal" || n.op_type == "Less" || n.op_type == "LessOrEqual" ||
      n.op_type == "Greater" || n.op_type == "GreaterOrEqual") {
    const core::Tensor& y = *g.value(n.inputs[1]).constant;
    if (!Numeric(x.dtype())) return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": non-numeric"));
    return Elementwise(n, x, y);
  }
  // Reshape-like ops: the op table's shape rule, same bytes.
  {
    OpContext ctx{g, n, opset, {}};
    for (ValueId in : n.inputs) ctx.input_dims.push_back(in == kNoValue ? core::Dims{} : g.value(in).constant->dims());
    const OpDef* def = FindOp(n.op_type);
    Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> dims, def->infer(ctx));
    return Outputs{WithDims(x, dims[0])};
  }
}

}  // namespace q8::engine
