// Element-type conversion between any two numeric DataTypes, including the
// 16-bit floats (FP16 and BF16, round-to-nearest-even). Used where a value
// crosses a graph edge in another type than the kernel reads (an INT8/UINT8
// image into a float Conv, an FP64 input, ...) and by tests comparing outputs.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "core/tensor.h"

namespace q8::core {

float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);
float BFloat16ToFloat(uint16_t b);
uint16_t FloatToBFloat16(float f);

// Converts src into dst element by element (same element count required).
// Float -> integer conversions truncate toward zero and saturate at the
// target's range (NaN -> 0) so no input is undefined behaviour; anything ->
// BOOL is "!= 0". INVALID_ARGUMENT for an undefined type or a count mismatch.
absl::Status ConvertElements(const TensorView& src, const MutableTensorView& dst);

}  // namespace q8::core
