// Human-readable quantization report (the JSON of the server's
// QuantizationReport): summary line, per-layer table, accuracy, weight size,
// latency with speedups and ISA. Pure function; unit-testable.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace q8::client {

// INVALID_ARGUMENT if `report_json` is not a JSON object. Missing fields are
// shown as absent rather than failing (older servers may omit some).
absl::StatusOr<std::string> FormatReport(const std::string& report_json);

}  // namespace q8::client
