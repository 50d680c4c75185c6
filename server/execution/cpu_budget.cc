// Owns the CPU budget probe: affinity mask and cgroup CPU quota.
#include "server/execution/cpu_budget.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"

namespace q8::server {
namespace {

std::optional<std::string> ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

// cgroup v1: cpu.cfs_quota_us is -1 when unlimited.
std::optional<double> ReadCgroupV1Limit(const std::string& root) {
  auto quota = ReadFirstLine(root + "/cpu/cpu.cfs_quota_us");
  auto period = ReadFirstLine(root + "/cpu/cpu.cfs_period_us");
  if (!quota || !period) return std::nullopt;
  double q = 0, p = 0;
  if (!absl::SimpleAtod(*quota, &q) || !absl::SimpleAtod(*period, &p) || q <= 0 || p <= 0) return std::nullopt;
  return q / p;
}

}  // namespace

std::optional<double> ParseCgroupV2CpuMax(const std::string& text) {
  std::istringstream in(text);
  std::string quota;
  double period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
  double q = 0;
  if (!absl::SimpleAtod(quota, &q) || q <= 0) return std::nullopt;
  return q / period;
}

CpuBudget ReadCpuBudget(const std::string& cgroup_root) {
  CpuBudget budget;
  cpu_set_t set;
  CPU_ZERO(&set);
  budget.affinity_cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? std::max(1, CPU_COUNT(&set)) : 1;
  if (auto line = ReadFirstLine(cgroup_root + "/cpu.max")) {
    budget.limit = ParseCgroupV2CpuMax(*line);
  } else {
    budget.limit = ReadCgroupV1Limit(cgroup_root);
  }
  budget.cpus = budget.affinity_cpus;
  if (budget.limit) budget.cpus = std::clamp(static_cast<int>(std::ceil(*budget.limit - 1e-9)), 1, budget.cpus);
  return budget;
}

}  // namespace q8::server
