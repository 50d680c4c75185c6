// What the metrics export about a served version (metrics::ModelDescription),
// derived from its ServedModel: precision, ISA, the upload-time quantization
// report (weight bytes, accuracy, SQNR, target), load timing and the
// effective shadow fraction.
#pragma once

#include <cstdint>
#include <string>

#include "server/metrics/model_metrics.h"
#include "server/served_model.h"

namespace q8::server {

// `default_shadow_fraction` applies when the model's config does not set one;
// versions without an int8 layer get 0 (nothing to compare with).
metrics::ModelDescription DescribeForMetrics(const std::string& name, int64_t version, const ServedModel& served,
                                             double default_shadow_fraction);

}  // namespace q8::server
