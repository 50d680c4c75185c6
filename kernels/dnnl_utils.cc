// Owns the oneDNN conversions every op file shares (see internal/dnnl_utils.h).
#include "kernels/internal/dnnl_utils.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace q8::kernels::internal {

using dt = dnnl::memory::data_type;

const dnnl::engine& CpuEngine() {
  static const dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

std::mutex& CreationMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}

absl::StatusOr<dt> ToDnnl(core::DataType dtype) {
  switch (dtype) {
    case core::DataType::kFloat32:
      return dt::f32;
    case core::DataType::kInt8:
      return dt::s8;
    case core::DataType::kUInt8:
      return dt::u8;
    case core::DataType::kInt32:
      return dt::s32;
    case core::DataType::kBFloat16:
      return dt::bf16;
    case core::DataType::kFloat16:
      return dt::f16;
    default:
      return absl::UnimplementedError(
          absl::StrCat("data type ", core::OipName(dtype), " is not supported by the oneDNN kernels"));
  }
}

dnnl::memory::desc PlainDesc(const core::Dims& dims, dt type) {
  dnnl::memory::dims d = dims.empty() ? dnnl::memory::dims{1} : dnnl::memory::dims(dims.begin(), dims.end());
  dnnl::memory::dims strides(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * d[i + 1];
  return dnnl::memory::desc(d, type, strides);
}

absl::StatusOr<dnnl::memory::desc> DescOf(const ValueSpec& value) {
  auto type = ToDnnl(value.dtype);
  if (!type.ok()) return type.status();
  for (int64_t d : value.dims) {
    if (d <= 0)
      return absl::InvalidArgumentError(
          absl::StrCat("value dims must be static and positive, got ", core::DimsToString(value.dims)));
  }
  switch (value.layout) {
    case Layout::kPlain:
      return PlainDesc(value.dims, *type);
    case Layout::kNhwc:
      if (value.dims.size() != 4) {
        return absl::InvalidArgumentError(
            absl::StrCat("NHWC layout needs a 4-D value, got ", core::DimsToString(value.dims)));
      }
      return dnnl::memory::desc(value.dims, *type, dnnl::memory::format_tag::acdb);
  }
  return absl::InvalidArgumentError("unknown layout");
}

bool SameBytesAsPlain(const ValueSpec& value) {
  const core::Dims& d = value.dims;
  return value.layout == Layout::kPlain || (d.size() == 4 && (d[1] == 1 || d[2] * d[3] == 1));
}

absl::StatusOr<dnnl::memory::dims> StridesOf(const dnnl::memory::desc& desc) {
  const dnnl_memory_desc_t& c = desc.data;
  if (c.format_kind != dnnl_blocked || c.format_desc.blocking.inner_nblks != 0) {
    return absl::InvalidArgumentError("strides are only defined for non-blocked layouts");
  }
  return dnnl::memory::dims(c.format_desc.blocking.strides, c.format_desc.blocking.strides + c.ndims);
}

std::vector<EltwiseStage> EltwiseStages(const Activation& a) {
  using alg = dnnl::algorithm;
  using K = Activation::Kind;
  switch (a.kind) {
    case K::kRelu:
      return {{alg::eltwise_relu, a.alpha}};
    case K::kClip:
      return {{alg::eltwise_clip, a.lo, a.hi}};
    case K::kSigmoid:
      return {{alg::eltwise_logistic}};
    case K::kTanh:
      return {{alg::eltwise_tanh}};
    case K::kExp:
      return {{alg::eltwise_exp}};
    case K::kLog:
      return {{alg::eltwise_log}};
    case K::kSqrt:
      return {{alg::eltwise_sqrt}};
    case K::kAbs:
      return {{alg::eltwise_abs}};
    case K::kSquare:
      return {{alg::eltwise_square}};
    case K::kLinear:
      return {{alg::eltwise_linear, a.alpha, a.beta}};
    case K::kElu:
      return {{alg::eltwise_elu, a.alpha}};
    case K::kSoftplus:
      return {{alg::eltwise_soft_relu}};
    case K::kMish:
      return {{alg::eltwise_mish}};
    case K::kRound:
      return {{alg::eltwise_round}};
    case K::kPow:
      return {{alg::eltwise_pow, a.alpha, a.beta}};
    case K::kHardSwish:
      return {{alg::eltwise_hardswish}};
    case K::kHardSigmoid:
      return {{alg::eltwise_linear, a.alpha, a.beta}, {alg::eltwise_clip, 0.0f, 1.0f}};
    case K::kGeluErf:
      return {{alg::eltwise_gelu_erf}};
    case K::kGeluTanh:
      return {{alg::eltwise_gelu_tanh}};
    case K::kSwish:
      return {{alg::eltwise_swish, a.alpha}};
    case K::kSelu:
      return {{alg::eltwise_elu, a.alpha}, {alg::eltwise_linear, a.beta, 0.0f}};
  }
  return {{alg::eltwise_linear, 1.0f, 0.0f}};
}

bool IsPositivelyHomogeneous(const Activation& a) {
  return a.kind == Activation::Kind::kRelu || a.kind == Activation::Kind::kClip;
}

dnnl::post_ops MakePostOps(absl::Span<const Activation> activations) {
  dnnl::post_ops ops;
  for (const Activation& a : activations) {
    for (const EltwiseStage& s : EltwiseStages(a)) ops.append_eltwise(1.0f, s.algorithm, s.alpha, s.beta);
  }
  return ops;
}

bool IsInt8(core::DataType dtype) { return dtype == core::DataType::kUInt8 || dtype == core::DataType::kInt8; }

float RealScale(const ValueSpec& value) { return IsInt8(value.dtype) ? value.scale : 1.0f; }

bool ValidScale(float scale) { return std::isfinite(scale) && scale > 0.0f; }

bool SameScale(float a, float b) { return std::fabs(a - b) <= 1e-6f * std::max(std::fabs(a), std::fabs(b)); }

QuantizedPostOps MakeQuantizedPostOps(absl::Span<const Activation> activations, float dst_scale,
                                      const std::optional<SumPostOp>& sum, int32_t dst_zero_point) {
  bool homogeneous = true;
  for (const Activation& a : activations) homogeneous &= IsPositivelyHomogeneous(a);
  const float inv = 1.0f / dst_scale;
  QuantizedPostOps out;
  out.output_factor = homogeneous ? inv : 1.0f;
  if (sum.has_value()) {
    const float scale = sum->residual_scale * out.output_factor;
    out.ops.append_sum(scale, sum->data_type);
  }
  for (size_t i = 0; i < activations.size(); ++i) {
    const Activation& a = activations[i];
    const std::vector<EltwiseStage> stages = EltwiseStages(a);
    for (size_t k = 0; k < stages.size(); ++k) {
      EltwiseStage s = stages[k];
      const bool last = i + 1 == activations.size() && k + 1 == stages.size();
      if (homogeneous && a.kind == Activation::Kind::kClip) {
        s.alpha *= inv;
        s.beta *= inv;
      }
      const float scale = !homogeneous && last && dst_zero_point == 0 ? inv : 1.0f;
      out.ops.append_eltwise(scale, s.algorithm, s.alpha, s.beta);
    }
  }
  // The zero point comes after the 1/dst_scale: one linear post-op that
  // applies both (where the chain runs in real units) or only the shift.
  if (dst_zero_point != 0) {
    out.ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, homogeneous ? 1.0f : inv,
                           static_cast<float>(dst_zero_point));
  }
  return out;
}

dnnl::primitive_attr MakeAttr(absl::Span<const Activation> post_ops) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (!post_ops.empty()) attr.set_post_ops(MakePostOps(post_ops));
  return attr;
}

absl::Status ErrorToStatus(const dnnl::error& e, absl::string_view context) {
  const std::string message = absl::StrCat(context, ": oneDNN: ", e.what());
  switch (e.status) {
    case dnnl_unimplemented:
      return absl::UnimplementedError(absl::StrCat(message, " (no implementation on this CPU)"));
    case dnnl_invalid_arguments:
      return absl::InvalidArgumentError(message);
    case dnnl_out_of_memory:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

std::string DescribeValue(const ValueSpec& value) {
  return absl::StrCat(core::DimsToString(value.dims), " ", core::OipName(value.dtype),
                      value.layout == Layout::kNhwc ? " nhwc" : "");
}

}  // namespace q8::kernels::internal
