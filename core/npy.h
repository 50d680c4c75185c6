// NumPy .npy (format 1.0/2.0/3.0) reading and writing: how q8ctl, the tests
// and calibration uploads exchange tensors. Little-endian, C order only.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "core/tensor.h"

namespace q8::core {

// Parses .npy bytes. INVALID_ARGUMENT names what is wrong (magic, header,
// Fortran order, unsupported dtype, truncated data).
absl::StatusOr<Tensor> ParseNpy(absl::string_view bytes);
// Serialises a tensor as .npy version 1.0.
std::string SerializeNpy(const TensorView& tensor);

absl::StatusOr<Tensor> ReadNpyFile(const std::string& path);
absl::Status WriteNpyFile(const std::string& path, const TensorView& tensor);

}  // namespace q8::core
