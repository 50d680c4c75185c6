// Output-size and padding arithmetic from the ONNX operator specs for Conv,
// MaxPool and AveragePool.
#include "engine/ops/spatial.h"

#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/quote.h"
#include "core/status_macros.h"

namespace q8::engine::ops {

absl::StatusOr<size_t> RequireSpatial(const OpContext& ctx) {
  const size_t rank = ctx.input_dims.empty() ? 0 : ctx.input_dims[0].size();
  if (rank < 3 || rank > 5) {
    return ctx.Unsupported(
        absl::StrCat("input of rank ", rank, "; 1-D, 2-D and 3-D spatial tensors (rank 3 to 5, N and C first) are"));
  }
  return rank - 2;
}

absl::StatusOr<Window> ResolveWindow(const OpContext& ctx, const std::vector<int64_t>& spatial_in,
                                     const std::vector<int64_t>& kernel, bool allow_ceil_mode) {
  const size_t n = spatial_in.size();
  const Attributes& a = ctx.node.attrs;
  Window w;
  w.kernel = kernel;
  Q8_ASSIGN_OR_RETURN(w.strides, a.GetInts("strides", std::vector<int64_t>(n, 1)));
  Q8_ASSIGN_OR_RETURN(w.dilations, a.GetInts("dilations", std::vector<int64_t>(n, 1)));
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> pads, a.GetInts("pads", std::vector<int64_t>(2 * n, 0)));
  Q8_ASSIGN_OR_RETURN(std::string auto_pad, a.GetString("auto_pad", "NOTSET"));
  Q8_ASSIGN_OR_RETURN(int64_t ceil_mode, a.GetInt("ceil_mode", 0));
  if (w.kernel.size() != n || w.strides.size() != n || w.dilations.size() != n || pads.size() != 2 * n) {
    return ctx.Error(absl::StrCat("kernel_shape/strides/dilations/pads do not match ", n, " spatial dims"));
  }
  if (ceil_mode != 0 && !allow_ceil_mode) return ctx.Error("ceil_mode is not an attribute of this op");
  for (size_t i = 0; i < n; ++i) {
    if (w.kernel[i] < 1 || w.strides[i] < 1 || w.dilations[i] < 1 || pads[i] < 0 || pads[i + n] < 0) {
      return ctx.Error("kernel, strides and dilations must be >= 1 and pads >= 0");
    }
  }
  w.pads_begin.assign(pads.begin(), pads.begin() + n);
  w.pads_end.assign(pads.begin() + n, pads.end());
  w.output.resize(n);
  // Every step is overflow-checked: kernel, dilation, pads and strides come
  // straight from the client's model.
  auto overflow = [&] { return ctx.Error("window arithmetic (kernel, dilations, pads, strides) overflows"); };
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = spatial_in[i];
    const std::optional<int64_t> k_minus_1_dilated = core::CheckedMul(w.kernel[i] - 1, w.dilations[i]);
    if (!k_minus_1_dilated) return overflow();
    const int64_t eff_k = *k_minus_1_dilated + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t out = in / w.strides[i] + (in % w.strides[i] != 0 ? 1 : 0);
      const std::optional<int64_t> reach = core::CheckedMul(out - 1, w.strides[i]);
      if (!reach) return overflow();
      const int64_t total = std::max<int64_t>(0, *reach + eff_k - in);
      w.pads_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.pads_end[i] = total - w.pads_begin[i];
    } else if (auto_pad == "VALID") {
      w.pads_begin[i] = w.pads_end[i] = 0;
    } else if (auto_pad != "NOTSET") {
      return ctx.Error(absl::StrCat("unknown auto_pad '", core::Quote(auto_pad), "'"));
    }
    // A pad larger than the window adds outputs that see only padding: no
    // exporter writes that, and it is how a tiny model asks for a huge output.
    if (w.pads_begin[i] > eff_k || w.pads_end[i] > eff_k) {
      return ctx.Error(absl::StrCat("pads ", w.pads_begin[i], "/", w.pads_end[i], " exceed the window of size ", eff_k,
                                    " along spatial axis ", i));
    }
    const std::optional<int64_t> pad_sum = core::CheckedAdd(w.pads_begin[i], w.pads_end[i]);
    const std::optional<int64_t> padded = pad_sum ? core::CheckedAdd(in, *pad_sum) : std::nullopt;
    if (!padded) return overflow();
    const int64_t span = *padded - eff_k;
    if (span < 0) {
      return ctx.Error(absl::StrCat("window of size ", eff_k, " does not fit input size ", in, " plus padding"));
    }
    int64_t out = span / w.strides[i] + 1;
    if (ceil_mode != 0) {
      out = span / w.strides[i] + (span % w.strides[i] != 0 ? 1 : 0) + 1;
      // The last window must start inside the input or the begin padding.
      if ((out - 1) * w.strides[i] >= in + w.pads_begin[i]) --out;
      const int64_t needed_end = (out - 1) * w.strides[i] + eff_k - in - w.pads_begin[i];
      w.pads_end[i] = std::max(w.pads_end[i], needed_end);
    }
    w.output[i] = out;
  }
  return w;
}

}  // namespace q8::engine::ops
