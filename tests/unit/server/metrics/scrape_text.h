// Test helpers: the text exposition of ModelMetrics objects, and one sample's
// value looked up by its exact series name + labels.
#pragma once

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "prometheus/text_serializer.h"
#include "server/metrics/model_metrics.h"

namespace q8::server::metrics::testing {

inline std::string ScrapeModels(const std::vector<const ModelMetrics*>& models) {
  std::vector<prometheus::MetricFamily> families = MetricFamilies();
  for (const ModelMetrics* m : models) m->AppendTo(families);
  std::erase_if(families, [](const prometheus::MetricFamily& f) { return f.metric.empty(); });
  return prometheus::TextSerializer().Serialize(families);
}

// Value of the line starting with `series` followed by a space, e.g.
// Sample(text, R"(q8serve_inference_count_total{model="m",version="1"})").
inline std::optional<double> Sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && absl::StartsWith(line, series) && line[series.size()] == ' ') {
      double v = 0;
      std::string value = line.substr(series.size() + 1);
      if (const size_t sp = value.find(' '); sp != std::string::npos) value.resize(sp);  // timestamp
      if (value == "+Inf") return 1.0 / 0.0;
      if (absl::SimpleAtod(value, &v)) return v;
    }
  }
  return std::nullopt;
}

// Lines of `text` (not comments) containing `needle`.
inline int CountLines(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += !line.empty() && line[0] != '#' && absl::StrContains(line, needle);
  return n;
}

}  // namespace q8::server::metrics::testing
