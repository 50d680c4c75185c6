// Calibration files -> engine::CalibrationData, for uploads and for a
// version directory populated by hand (one path for both):
//   inputs.npy (+ labels.npy)   the .npy form: one group, the model's only input
//   inputs.npz (+ labels.npy)   numpy.savez[_compressed]; keys per
//                               engine/quant/calibration_data.h (input names,
//                               "<group>/<input>", "__labels__"); labels.npy
//                               only beside a one-group archive without labels
// The form is chosen by the file's name (label ending in ".npz"). Bytes that
// do not parse are INVALID_ARGUMENT naming the file; whether the arrays fit
// the model is checked by the engine when it quantizes.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "engine/quant/calibration_data.h"
#include "server/model_loader.h"

namespace q8::server {

// `max_bytes`: what an .npz may unpack to in total (the upload limit).
absl::StatusOr<engine::CalibrationData> ParseCalibration(const UploadedFile& inputs,
                                                         const std::optional<UploadedFile>& labels, int64_t max_bytes);

}  // namespace q8::server
