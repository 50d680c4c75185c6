// Owns preset names and the preset -> stream layout rule.
#include "server/execution/execution_config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace q8::server {

absl::StatusOr<ExecutionPreset> ParseExecutionPreset(absl::string_view name) {
  if (name == "latency") return ExecutionPreset::kLatency;
  if (name == "throughput") return ExecutionPreset::kThroughput;
  if (name == "auto") return ExecutionPreset::kAuto;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown execution preset '", name, "' (expected auto, latency or throughput)"));
}

absl::string_view ToString(ExecutionPreset preset) {
  switch (preset) {
    case ExecutionPreset::kLatency:
      return "latency";
    case ExecutionPreset::kThroughput:
      return "throughput";
    case ExecutionPreset::kAuto:
      return "auto";
  }
  return "?";
}

bool UsesAutoLayout(const ExecutionConfig& config, ExecutionPreset server_default) {
  return config.preset.value_or(server_default) == ExecutionPreset::kAuto && config.streams <= 0 &&
         config.threads_per_stream <= 0;
}

StreamLayout AutoLayout(double run_seconds, int cpus) {
  cpus = std::max(1, cpus);
  const double per_thread = std::max(0.0, run_seconds) / kAutoSecondsPerThread;
  const int most = std::min(cpus, kAutoMaxThreadsPerStream);
  const int threads = per_thread >= most ? most : std::max(1, static_cast<int>(per_thread));
  return {std::max(1, cpus / threads), threads};
}

StreamLayout ResolveStreams(const ExecutionConfig& config, ExecutionPreset server_default, int cpus) {
  cpus = std::max(1, cpus);
  const ExecutionPreset preset = config.preset.value_or(server_default);
  StreamLayout layout = preset == ExecutionPreset::kLatency      ? StreamLayout{1, cpus}
                        : preset == ExecutionPreset::kThroughput ? StreamLayout{cpus, 1}
                                                                 : StreamLayout{1, 1};
  if (config.streams > 0 && config.threads_per_stream > 0) return {config.streams, config.threads_per_stream};
  if (config.streams > 0) return {config.streams, std::max(1, cpus / config.streams)};
  if (config.threads_per_stream > 0) return {std::max(1, cpus / config.threads_per_stream), config.threads_per_stream};
  return layout;
}

StreamLayout ClampStreams(StreamLayout layout, int64_t max_threads) {
  max_threads = std::max<int64_t>(1, max_threads);
  layout.streams = static_cast<int>(std::clamp<int64_t>(layout.streams, 1, max_threads));
  const int64_t per_stream = std::max<int64_t>(1, max_threads / layout.streams);
  layout.threads_per_stream = static_cast<int>(std::clamp<int64_t>(layout.threads_per_stream, 1, per_stream));
  return layout;
}

}  // namespace q8::server
