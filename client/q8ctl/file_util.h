// Whole-file reads for the client tools (models, configs, credentials).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace q8::client {

// NOT_FOUND "cannot open PATH" / DATA_LOSS "cannot read PATH".
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace q8::client
