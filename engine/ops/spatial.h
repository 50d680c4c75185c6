// Window geometry shared by Conv and pooling: ONNX auto_pad / pads / strides /
// dilations / ceil_mode resolved into explicit begin/end pads and output size.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/ops/op_table.h"

namespace q8::engine::ops {

struct Window {
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end;
  std::vector<int64_t> output;  // spatial output sizes
};

// `spatial_in` are the input's spatial dims ([D,] H, W or just W). `kernel` comes from the
// weights (Conv) or the kernel_shape attribute (pools). With ceil_mode the
// end pads grow so that a floor-based kernel produces the ceil-mode size.
absl::StatusOr<Window> ResolveWindow(const OpContext& ctx, const std::vector<int64_t>& spatial_in,
                                     const std::vector<int64_t>& kernel, bool allow_ceil_mode);

// The number of spatial dims of input 0: 1, 2 or 3 (a 3-D, 4-D or 5-D
// tensor, N and C first); "not supported" for other ranks.
absl::StatusOr<size_t> RequireSpatial(const OpContext& ctx);

}  // namespace q8::engine::ops
