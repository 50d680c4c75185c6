// Table, CSV and JSON writers of q8bench (see writers.h).
#include "client/q8bench/writers.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace q8::bench {
namespace {

const char* ModeName(LoadMode m) { return m == LoadMode::kConcurrency ? "concurrency" : "request_rate"; }

// One ordered list of (column, value) per level, shared by CSV and JSON.
nlohmann::ordered_json LevelJson(const RunResult& run, const LevelResult& l) {
  nlohmann::ordered_json j;
  j["mode"] = ModeName(l.mode);
  j["concurrency"] = l.mode == LoadMode::kConcurrency ? static_cast<int64_t>(l.level) : int64_t{0};
  j["target_rate"] = l.mode == LoadMode::kRequestRate ? l.level : 0.0;
  j["batch_size"] = run.batch_size;
  j["throughput_infer_per_s"] = l.throughput;
  j["request_rate"] = l.request_rate;
  j["requests"] = l.requests;
  j["errors"] = l.errors;
  j["windows"] = l.windows;
  j["stable"] = l.stable;
  j["seconds"] = l.seconds;
  j["avg_us"] = l.latency.avg_us;
  j["p50_us"] = l.latency.p50_us;
  j["p90_us"] = l.latency.p90_us;
  j["p95_us"] = l.latency.p95_us;
  j["p99_us"] = l.latency.p99_us;
  j["max_us"] = l.latency.max_us;
  j["server_inference_count"] = l.server.inference_count;
  j["server_execution_count"] = l.server.execution_count;
  j["server_success_count"] = l.server.success_count;
  j["server_queue_us"] = l.split.queue_us;
  j["server_compute_input_us"] = l.split.compute_input_us;
  j["server_compute_infer_us"] = l.split.compute_infer_us;
  j["server_compute_output_us"] = l.split.compute_output_us;
  j["server_compute_us"] = l.split.compute_us;
  j["server_request_us"] = l.split.request_us;
  j["late_sends"] = l.late_sends;
  return j;
}

std::string CsvValue(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  if (v.is_number_float()) return absl::StrFormat("%.3f", v.get<double>());
  return v.dump();
}

}  // namespace

std::string FormatTable(const RunResult& run) {
  std::string out = absl::StrFormat("model %s version %s, batch %d\n", run.model, run.version, run.batch_size);
  absl::StrAppendFormat(&out, "%-14s %12s %10s %10s %10s %10s %10s %10s %10s %s\n", "level", "infer/s", "p50 us",
                        "p90 us", "p95 us", "p99 us", "queue us", "compute us", "server us", "");
  for (const LevelResult& l : run.levels) {
    const std::string level = l.mode == LoadMode::kConcurrency ? absl::StrFormat("conc %g", l.level)
                                                                : absl::StrFormat("rate %g/s", l.level);
    absl::StrAppendFormat(&out, "%-14s %12.1f %10.0f %10.0f %10.0f %10.0f %10.1f %10.1f %10.1f %s\n", level,
                          l.throughput, l.latency.p50_us, l.latency.p90_us, l.latency.p95_us, l.latency.p99_us,
                          l.split.queue_us, l.split.compute_us, l.split.request_us,
                          l.stable ? "" : "(not stable)");
  }
  absl::StrAppendFormat(&out, "requests: %d ok, %d failed; server inference_count delta %d\n", run.client_requests,
                        run.client_errors, run.server_inference_count);
  return out;
}

std::string FormatCsv(const RunResult& run) {
  std::string out;
  for (size_t i = 0; i < run.levels.size(); ++i) {
    nlohmann::ordered_json j = LevelJson(run, run.levels[i]);
    std::vector<std::string> keys, values;
    for (auto it = j.begin(); it != j.end(); ++it) {
      keys.push_back(it.key());
      values.push_back(CsvValue(it.value()));
    }
    if (i == 0) absl::StrAppend(&out, absl::StrJoin(keys, ","), "\n");
    absl::StrAppend(&out, absl::StrJoin(values, ","), "\n");
  }
  return out;
}

std::string FormatJson(const RunResult& run) {
  nlohmann::ordered_json j;
  j["model"] = run.model;
  j["version"] = run.version;
  j["batch_size"] = run.batch_size;
  j["client_requests"] = run.client_requests;
  j["client_errors"] = run.client_errors;
  j["server_inference_count"] = run.server_inference_count;
  j["levels"] = nlohmann::ordered_json::array();
  for (const LevelResult& l : run.levels) j["levels"].push_back(LevelJson(run, l));
  return j.dump(2) + "\n";
}

}  // namespace q8::bench
