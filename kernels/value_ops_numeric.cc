// The numeric value ops of value_ops.h: the losses, LayerNormalization (its
// statistics outputs and runtime scale/bias), Gemm's plain path, the Dropout
// gate and ReduceLogSumExp. Like value_ops.cc, every request-supplied value
// (targets, gates) is checked before anything is written.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/data_ops.h"
#include "kernels/internal/value_op_util.h"

namespace q8::kernels {

using namespace value_internal;  // NOLINT: the shared value-op helpers

// ---- losses ----
static core::Dims LossTargetDims(const core::Dims& scores) {
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
static float Broadcast(const core::TensorView& v, const core::Dims& block, int64_t i) {
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

absl::Status Validate(const DropoutGateOp& op, absl::Span<const core::TensorView> in,
                      const core::MutableTensorView& out) {
  if (in.size() != 1 + static_cast<size_t>(op.training_mode) + op.ratio) {
    return Bad("the Dropout gate reads x, then training_mode and ratio as configured");
  }
  Q8_RETURN_IF_ERROR(ValidateSameF32(in.subspan(0, 1), out, "Dropout"));
  if (op.training_mode) Q8_RETURN_IF_ERROR(CheckScalar(in[1], "training_mode"));
  if (op.ratio) Q8_RETURN_IF_ERROR(CheckScalar(in.back(), "ratio"));
  return absl::OkStatus();
}

absl::Status Run(const DropoutGateOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (op.training_mode && Load(in[1], 0) != 0.0 && !(op.ratio && Load(in.back(), 0) == 0.0)) {
    return Bad("Dropout: training_mode is true; q8serve serves inference only and does not sample dropout masks");
  }
  if (op.mask) {
    std::fill_n(Out(out), out.num_elements(), 1.0f);
  } else {
    std::memcpy(out.data, in[0].data, out.num_elements() * sizeof(float));
  }
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
}  // namespace q8::kernels
