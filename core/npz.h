// NumPy .npz reading: the archive numpy.savez / numpy.savez_compressed write
// (a ZIP of "<key>.npy" entries, stored or deflated; core/zip_reader.h), as
// named tensors in archive order. How keys map to a model's inputs is the
// caller's (engine/quant/calibration_data.h).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"
#include "core/zip_reader.h"

namespace q8::core {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// INVALID_ARGUMENT naming the key (or the archive) and the reason: an entry
// not named "*.npy", a key given twice, a bad .npy inside, and everything
// ZipReader refuses. `limits` bound the entry count and the total
// uncompressed bytes (callers pass their upload limit).
absl::StatusOr<std::vector<NamedTensor>> ParseNpz(absl::string_view bytes, const ZipLimits& limits = {});

// Stored (uncompressed) .npz of `tensors`, for tests and tools.
std::string SerializeNpz(const std::vector<std::pair<std::string, TensorView>>& tensors);

}  // namespace q8::core
