// MaxPool's Indices output (value_ops.h: MaxPoolIndicesOp): plain C++, since
// oneDNN's pooling workspace is not ONNX's flat index. The values step runs
// next to the oneDNN pooling step that computes the maxima themselves.
#include <algorithm>
#include <array>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/value_op_util.h"

namespace q8::kernels {

using namespace value_internal;  // NOLINT: the shared value-op helpers

absl::Status Validate(const MaxPoolIndicesOp& op, absl::Span<const core::TensorView> in,
                      const core::MutableTensorView& out) {
  if (in.size() != 1) return Bad("MaxPool indices read x");
  Q8_RETURN_IF_ERROR(CheckF32(in[0], "x"));
  const core::Dims& x = in[0].dims;
  const size_t spatial = op.kernel.size();
  if (x.size() != spatial + 2 || x.size() > kMaxRank || spatial == 0) return Bad("x must be [N, C, spatial...]");
  if (op.strides.size() != spatial || op.dilations.size() != spatial || op.pads_begin.size() != spatial) {
    return Bad("window vectors disagree with the spatial rank");
  }
  if (op.column_major && spatial != 2) return Bad("storage_order 1 needs a 2-D window");
  // Indices travel as FP32: every flat index must be exact.
  if (in[0].num_elements() > (int64_t{1} << 24)) return Bad("x has more than 2^24 elements");
  if (out.dtype != DataType::kFloat32 || out.dims.size() != x.size() || out.dims[0] != x[0] || out.dims[1] != x[1]) {
    return Bad("indices must be f32 [N, C, out...]");
  }
  for (size_t d = 0; d < spatial; ++d) {
    if (op.kernel[d] < 1 || op.strides[d] < 1 || op.dilations[d] < 1 || op.pads_begin[d] < 0 ||
        op.pads_begin[d] > op.kernel[d] * op.dilations[d]) {
      return Bad("window out of range");
    }
    // The last window must start inside the padded input.
    if (out.dims[d + 2] < 1 || (out.dims[d + 2] - 1) * op.strides[d] - op.pads_begin[d] >= x[d + 2]) {
      return Bad("output extent exceeds the input");
    }
  }
  return absl::OkStatus();
}

absl::Status Run(const MaxPoolIndicesOp& op, absl::Span<const core::TensorView> in,
                 const core::MutableTensorView& out) {
  const core::Dims& x = in[0].dims;
  const size_t spatial = op.kernel.size();
  const float* src = In(in[0]);
  float* dst = Out(out);
  int64_t plane = 1;  // elements per (n, c)
  for (size_t d = 0; d < spatial; ++d) plane *= x[d + 2];
  // Row-major strides of the spatial axes inside one plane (fixed arrays:
  // a run allocates nothing).
  std::array<int64_t, kMaxRank> stride{}, o{}, k{};
  stride[spatial - 1] = 1;
  for (size_t d = spatial - 1; d-- > 0;) stride[d] = stride[d + 1] * x[d + 3];
  const int64_t planes = x[0] * x[1];
  const int64_t out_plane = out.num_elements() / planes;
  for (int64_t p = 0; p < planes; ++p) {
    const float* base = src + p * plane;
    std::fill(o.begin(), o.end(), 0);
    for (int64_t j = 0; j < out_plane; ++j) {
      float best = -std::numeric_limits<float>::infinity();
      int64_t best_at = -1;  // row-major offset within the plane
      std::fill(k.begin(), k.end(), 0);
      for (bool more = true; more;) {
        int64_t at = 0;
        bool inside = true;
        for (size_t d = 0; d < spatial && inside; ++d) {
          const int64_t i = o[d] * op.strides[d] - op.pads_begin[d] + k[d] * op.dilations[d];
          inside = i >= 0 && i < x[d + 2];
          at += i * stride[d];
        }
        if (inside && (best_at < 0 || base[at] > best)) best = base[at], best_at = at;
        more = false;
        for (size_t d = spatial; d-- > 0;) {
          if (++k[d] < op.kernel[d]) {
            more = true;
            break;
          }
          k[d] = 0;
        }
      }
      int64_t index = best_at;
      if (best_at >= 0 && op.column_major) {
        const int64_t h = best_at / x[3], w = best_at % x[3];
        index = w * x[2] + h;
      }
      dst[p * out_plane + j] = best_at < 0 ? -1.0f : static_cast<float>(p * plane + index);
      for (size_t d = spatial; d-- > 0;) {
        if (++o[d] < out.dims[d + 2]) break;
        o[d] = 0;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace q8::kernels
