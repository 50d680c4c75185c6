// Owns the selecting and contracting value ops of value_ops.h: TopK (values
// or indices of the k largest / smallest along an axis), EyeLike (ones on a
// diagonal of the input's 2-D shape) and the general Einsum. Plain C++:
// oneDNN 2.6 has no top-k, nothing to build a diagonal with, and no einsum
// (matmul-like equations are lowered to its matmul by the engine).
#include <algorithm>
#include <array>
#include <numeric>
#include <vector>

#include "kernels/internal/value_op_util.h"

namespace q8::kernels {

using namespace value_internal;  // NOLINT: the shared value-op helpers

absl::Status Validate(const TopKOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 1) return Bad("TopK reads one input (k is resolved when the plan is built)");
  Q8_RETURN_IF_ERROR(CheckF32(in[0], "TopK's input"));
  Q8_RETURN_IF_ERROR(CheckAxis(op.axis, in[0].dims.size()));
  if (op.k < 0 || op.k > in[0].dims[op.axis]) return Bad("TopK: k exceeds the axis");
  core::Dims want = in[0].dims;
  want[op.axis] = op.k;
  if (out.dims != want || out.dtype != DataType::kFloat32) return Bad("TopK output dims or type");
  return absl::OkStatus();
}

absl::Status Run(const TopKOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const core::Dims& d = in[0].dims;
  const int64_t n = d[op.axis], outer = Prod(d, 0, op.axis), inner = Prod(d, op.axis + 1, d.size());
  const float* x = In(in[0]);
  float* y = Out(out);
  // Ties keep the lower index first (ONNX); NaN counts as the largest value.
  auto before = [&](const float* row, int64_t a, int64_t b) {
    const float va = row[a * inner], vb = row[b * inner];
    if (va == vb || (std::isnan(va) && std::isnan(vb))) return a < b;
    if (std::isnan(va)) return op.largest;
    if (std::isnan(vb)) return !op.largest;
    return op.largest ? va > vb : va < vb;
  };
  // O(n log k) per row over a per-thread index buffer, which allocates only
  // when a longer axis than before comes (TopK is off the conv/matmul hot path).
  thread_local std::vector<int64_t> order;
  order.resize(static_cast<size_t>(n));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* row = x + o * n * inner + i;
      float* dst = y + o * op.k * inner + i;
      std::iota(order.begin(), order.end(), int64_t{0});
      std::partial_sort(order.begin(), order.begin() + op.k, order.end(),
                        [&](int64_t a, int64_t b) { return before(row, a, b); });
      for (int64_t j = 0; j < op.k; ++j) {
        dst[j * inner] = op.indices ? static_cast<float>(order[j]) : row[order[j] * inner];
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const EyeLikeOp&, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 1) return Bad("EyeLike reads one input");
  if (in[0].dims.size() != 2) return Bad("EyeLike's input must be 2-D");
  if (out.dims != in[0].dims || out.dtype != DataType::kFloat32) return Bad("EyeLike keeps the input's dims");
  return absl::OkStatus();
}

absl::Status Run(const EyeLikeOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const int64_t rows = in[0].dims[0], cols = in[0].dims[1];
  float* y = Out(out);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = c - r == op.k ? 1.0f : 0.0f;
  }
  return absl::OkStatus();
}

// Bounds that let Run keep its odometer on the stack.
constexpr size_t kEinsumMaxLabels = 32, kEinsumMaxInputs = 8;

absl::Status Validate(const EinsumOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const size_t labels = op.extents.size();
  if (in.size() != op.inputs.size() || in.empty()) return Bad("Einsum: one label list per input");
  if (in.size() > kEinsumMaxInputs || labels > kEinsumMaxLabels) return Bad("Einsum: above 8 inputs or 32 labels");
  auto known = [&](int l) { return l >= 0 && static_cast<size_t>(l) < labels; };
  for (size_t k = 0; k < in.size(); ++k) {
    Q8_RETURN_IF_ERROR(CheckF32(in[k], "Einsum's inputs"));
    if (in[k].dims.size() != op.inputs[k].size()) return Bad("Einsum: an input's rank differs from its labels");
    for (size_t a = 0; a < in[k].dims.size(); ++a) {
      const int l = op.inputs[k][a];
      if (!known(l) || (in[k].dims[a] != op.extents[l] && in[k].dims[a] != 1)) return Bad("Einsum: input extents");
    }
  }
  if (out.dtype != DataType::kFloat32 || out.dims.size() != op.output.size()) return Bad("Einsum output rank or type");
  for (size_t a = 0; a < op.output.size(); ++a) {
    if (!known(op.output[a]) || out.dims[a] != op.extents[op.output[a]]) return Bad("Einsum output dims");
  }
  for (int64_t e : op.extents) {
    if (e < 0) return Bad("Einsum: negative extent");
  }
  return absl::OkStatus();
}

// An odometer over every label: the output and input offsets move by
// per-label strides (an axis of extent 1 has stride 0; a label repeated in
// one input adds its axes' strides, which walks the diagonal).
absl::Status Run(const EinsumOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const size_t labels = op.extents.size(), n_in = in.size();
  float* y = Out(out);
  std::fill(y, y + out.num_elements(), 0.0f);
  for (int64_t e : op.extents) {
    if (e == 0) return absl::OkStatus();
  }
  // strides[k][l] for inputs k < n_in, strides[n_in][l] for the output.
  std::array<std::array<int64_t, kEinsumMaxLabels>, kEinsumMaxInputs + 1> strides{};
  for (size_t k = 0; k <= n_in; ++k) {
    const core::Dims& dims = k < n_in ? in[k].dims : out.dims;
    const std::vector<int>& ls = k < n_in ? op.inputs[k] : op.output;
    int64_t stride = 1;
    for (size_t a = dims.size(); a-- > 0;) {
      if (dims[a] != 1) strides[k][ls[a]] += stride;
      stride *= dims[a];
    }
  }
  std::array<int64_t, kEinsumMaxLabels> idx{};
  std::array<int64_t, kEinsumMaxInputs + 1> offset{};
  for (bool done = false; !done;) {
    float prod = 1.0f;
    for (size_t k = 0; k < n_in; ++k) prod *= In(in[k])[offset[k]];
    y[offset[n_in]] += prod;
    done = true;
    for (size_t l = labels; l > 0 && done;) {
      --l;
      if (++idx[l] < op.extents[l]) {
        for (size_t k = 0; k <= n_in; ++k) offset[k] += strides[k][l];
        done = false;
      } else {
        for (size_t k = 0; k <= n_in; ++k) offset[k] -= strides[k][l] * (op.extents[l] - 1);
        idx[l] = 0;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace q8::kernels
