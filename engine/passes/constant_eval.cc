// Constant evaluation, written for clarity rather than speed: tensors here are
// shape vectors and the odd weight, evaluated once per model load.
#include "engine/passes/constant_eval.h"

#include <algorithm>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/status_macros.h"
#include "engine/ops/op_table.h"

namespace q8::engine {
namespace {

using TensorPtr = std::shared_ptr<const core::Tensor>;
using Outputs = std::vector<TensorPtr>;

const std::set<std::string>& Evaluable() {
  static const auto* ops =
      new std::set<std::string>{"Constant",  "Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
                                "Transpose", "Add",      "Sub",  "Mul",     "Div",     "Concat",  "Shape"};
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

absl::StatusOr<std::vector<int64_t>> AxesOf(const Graph& g, const Node& n, int64_t opset) {
  if (opset >= 13 && n.inputs.size() > 1 && n.inputs[1] != kNoValue) {
    const core::Tensor& t = *g.value(n.inputs[1]).constant;
    std::vector<int64_t> axes;
    for (int64_t i = 0; i < t.num_elements(); ++i) axes.push_back(static_cast<int64_t>(Get(t, i)));
    return axes;
  }
  return n.attrs.GetInts("axes", {});
}

absl::StatusOr<Outputs> Elementwise(const Node& n, const core::Tensor& a, const core::Tensor& b) {
  core::Dims out_dims;
  if (!core::BroadcastShapes(a.dims(), b.dims(), &out_dims) || a.dtype() != b.dtype()) {
    return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": operands do not broadcast"));
  }
  Q8_RETURN_IF_ERROR(core::CheckedByteSize(a.dtype(), out_dims, n.Describe()).status());
  std::function<double(double, double)> f;
  if (n.op_type == "Add") f = std::plus<double>();
  if (n.op_type == "Sub") f = std::minus<double>();
  if (n.op_type == "Mul") f = std::multiplies<double>();
  if (n.op_type == "Div") {
    const bool integer = a.dtype() == core::DataType::kInt64 || a.dtype() == core::DataType::kInt32;
    f = [integer](double x, double y) { return integer ? std::trunc(x / y) : x / y; };
  }
  auto out = std::make_shared<core::Tensor>(a.dtype(), out_dims);
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

absl::StatusOr<Outputs> Transpose(const Node& n, const core::Tensor& x) {
  const size_t rank = x.dims().size();
  std::vector<int64_t> perm;
  for (int64_t i = static_cast<int64_t>(rank) - 1; i >= 0; --i) perm.push_back(i);
  Q8_ASSIGN_OR_RETURN(perm, n.attrs.GetInts("perm", perm));
  std::vector<bool> seen(rank, false);
  bool valid = perm.size() == rank;
  for (int64_t p : perm) {
    valid = valid && p >= 0 && p < static_cast<int64_t>(rank) && !seen[p];
    if (valid) seen[p] = true;
  }
  if (!valid) return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": bad perm"));
  core::Dims out_dims;
  for (int64_t p : perm) out_dims.push_back(x.dims()[p]);
  auto out = std::make_shared<core::Tensor>(x.dtype(), out_dims);
  const auto xs = Strides(x.dims()), os = Strides(out_dims);
  const int64_t esize = core::SizeOf(x.dtype());
  for (int64_t i = 0; i < out->num_elements(); ++i) {
    int64_t src = 0, rem = i;
    for (size_t d = 0; d < rank; ++d) {
      src += (rem / os[d]) * xs[perm[d]];
      rem %= os[d];
    }
    std::memcpy(static_cast<char*>(out->data()) + i * esize, static_cast<const char*>(x.data()) + src * esize, esize);
  }
  return Outputs{out};
}

absl::StatusOr<Outputs> Concat(const Graph& g, const Node& n) {
  Q8_ASSIGN_OR_RETURN(int64_t axis, n.attrs.GetInt("axis", 0));
  const core::Tensor& first = *g.value(n.inputs[0]).constant;
  const int64_t rank = first.dims().size();
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": bad axis"));
  core::Dims out_dims = first.dims();
  out_dims[axis] = 0;
  for (ValueId in : n.inputs) {
    const core::Tensor& t = *g.value(in).constant;
    bool same = t.dims().size() == first.dims().size() && t.dtype() == first.dtype();
    for (int64_t d = 0; same && d < rank; ++d) same = d == axis || t.dims()[d] == first.dims()[d];
    const std::optional<int64_t> sum = same ? core::CheckedAdd(out_dims[axis], t.dims()[axis]) : std::nullopt;
    if (!sum) return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": inputs do not concatenate"));
    out_dims[axis] = *sum;
  }
  Q8_RETURN_IF_ERROR(core::CheckedByteSize(first.dtype(), out_dims, n.Describe()).status());
  auto out = std::make_shared<core::Tensor>(first.dtype(), out_dims);
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out_dims[d];
  const int64_t esize = core::SizeOf(first.dtype());
  char* dst = static_cast<char*>(out->data());
  for (int64_t o = 0; o < outer; ++o) {
    for (ValueId in : n.inputs) {
      const core::Tensor& t = *g.value(in).constant;
      const int64_t chunk = t.num_elements() / std::max<int64_t>(outer, 1) * esize;
      std::memcpy(dst, static_cast<const char*>(t.data()) + o * chunk, chunk);
      dst += chunk;
    }
  }
  return Outputs{out};
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

bool CanEvaluateConstant(const std::string& op_type) { return Evaluable().count(op_type) > 0; }

absl::StatusOr<Outputs> EvaluateConstantNode(const Graph& g, const Node& n, int64_t opset) {
  if (n.op_type == "Constant") return ConstantNode(n);
  const core::Tensor& x = *g.value(n.inputs[0]).constant;
  if (n.op_type == "Identity") return Outputs{g.value(n.inputs[0]).constant};
  if (n.op_type == "Shape") {
    auto t = std::make_shared<core::Tensor>(core::DataType::kInt64, core::Dims{static_cast<int64_t>(x.dims().size())});
    std::copy(x.dims().begin(), x.dims().end(), t->span<int64_t>().begin());
    return Outputs{t};
  }
  if (n.op_type == "Cast") {
    Q8_ASSIGN_OR_RETURN(int64_t to, n.attrs.GetInt("to", 0));
    auto dtype = core::FromOnnxCode(static_cast<int>(to));
    if (!dtype || !Numeric(*dtype) || !Numeric(x.dtype())) {
      return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": unsupported constant Cast"));
    }
    auto out = std::make_shared<core::Tensor>(*dtype, x.dims());
    for (int64_t i = 0; i < x.num_elements(); ++i) Put(*out, i, Get(x, i));
    return Outputs{out};
  }
  if (n.op_type == "Add" || n.op_type == "Sub" || n.op_type == "Mul" || n.op_type == "Div") {
    const core::Tensor& y = *g.value(n.inputs[1]).constant;
    if (!Numeric(x.dtype())) return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": non-numeric"));
    return Elementwise(n, x, y);
  }
  if (n.op_type == "Transpose") return Transpose(n, x);
  if (n.op_type == "Concat") return Concat(g, n);
  if (n.op_type == "Reshape" || n.op_type == "Flatten") {
    OpContext ctx{g, n, opset, {}};
    for (ValueId in : n.inputs) ctx.input_dims.push_back(in == kNoValue ? core::Dims{} : g.value(in).constant->dims());
    const OpDef* def = FindOp(n.op_type);
    Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> dims, def->infer(ctx));
    return Outputs{WithDims(x, dims[0])};
  }
  // Squeeze / Unsqueeze.
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesOf(g, n, opset));
  core::Dims dims = x.dims();
  if (n.op_type == "Unsqueeze") {
    const int64_t rank = dims.size() + axes.size();
    for (int64_t& a : axes) a = a < 0 ? a + rank : a;
    std::sort(axes.begin(), axes.end());
    for (int64_t a : axes) dims.insert(dims.begin() + std::min<int64_t>(a, dims.size()), 1);
  } else {
    const int64_t rank = dims.size();
    core::Dims kept;
    for (int64_t d = 0; d < rank; ++d) {
      const bool listed = std::find(axes.begin(), axes.end(), d) != axes.end() ||
                          std::find(axes.begin(), axes.end(), d - rank) != axes.end();
      if ((axes.empty() && dims[d] == 1) || (listed && dims[d] == 1)) continue;
      kept.push_back(dims[d]);
    }
    dims = kept;
  }
  return Outputs{WithDims(x, dims)};
}

}  // namespace q8::engine
