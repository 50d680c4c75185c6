// ProcessCollector: the standard process_* metrics (the names every
// Prometheus client library exports, so existing dashboards work), read from
// /proc at scrape time. prometheus-cpp has no such collector.
//
//   process_cpu_seconds_total      counter  user + system CPU time
//   process_resident_memory_bytes  gauge    RSS (/proc/self/statm)
//   process_virtual_memory_bytes   gauge    virtual size (/proc/self/statm)
//   process_open_fds               gauge    entries of /proc/self/fd
//   process_max_fds                gauge    soft RLIMIT_NOFILE
//   process_start_time_seconds     gauge    start time, seconds since the epoch
//   process_threads                gauge    threads (/proc/self/stat)
//
// A value that cannot be read is left out of the scrape.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace q8::server::metrics {

struct ProcessStats {
  std::optional<double> cpu_seconds;
  std::optional<double> resident_bytes;
  std::optional<double> virtual_bytes;
  std::optional<double> open_fds;
  std::optional<double> max_fds;
  std::optional<double> start_time_seconds;
  std::optional<double> threads;
};

// Reads the calling process' stats now.
ProcessStats ReadProcessStats();

// utime + stime of process `pid` so far, in seconds (/proc/PID/stat), or
// nullopt if it cannot be read. bench/grpc_echo reads its server child's.
std::optional<double> ProcessCpuSeconds(int pid);

class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace q8::server::metrics
