// How many CPUs this process may really use: the smaller of its CPU affinity
// set and the container's CPU limit (cgroup v2 cpu.max, or v1 CFS quota),
// rounded up. Execution-stream presets derive their defaults from it, so a
// pod limited to 2 CPUs on a 64-core node runs 2 threads, not 64.
#pragma once

#include <optional>
#include <string>

namespace q8::server {

struct CpuBudget {
  int cpus = 1;             // what presets use: min(affinity, limit), >= 1
  int affinity_cpus = 1;    // sched_getaffinity
  std::optional<double> limit;  // cgroup quota / period, when one is set
};

// Reads /proc and /sys/fs/cgroup. `cgroup_root` is for tests.
CpuBudget ReadCpuBudget(const std::string& cgroup_root = "/sys/fs/cgroup");

// "max 100000" -> none; "150000 100000" -> 1.5. Nullopt when unparsable.
std::optional<double> ParseCgroupV2CpuMax(const std::string& text);

}  // namespace q8::server
