// Owns the validation of the resource-limit flags and the default memory
// budget probe (physical memory and the cgroup memory limit).
#include "server/resource_limits.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace q8::server {
namespace {

// A cgroup limit file's value in bytes; nullopt when absent or "max".
std::optional<int64_t> ReadLimitFile(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  int64_t v = 0;
  if (!absl::SimpleAtoi(line, &v) || v <= 0) return std::nullopt;
  return v;
}

}  // namespace

absl::Status ValidateResourceLimits(const ResourceLimits& limits) {
  if (limits.max_request_bytes < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--max_request_bytes must be >= 1, got ", limits.max_request_bytes));
  }
  if (limits.max_concurrent_loads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_concurrent_loads must be >= 1, got ", limits.max_concurrent_loads));
  }
  if (limits.max_queue_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--max_queue_size must be >= 1, got ", limits.max_queue_size));
  }
  if (limits.max_threads_per_cpu < 1 || limits.max_threads_per_cpu > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_threads_per_cpu must be in [1, 64], got ", limits.max_threads_per_cpu));
  }
  // At least 1 MiB: smaller would refuse every real model's weights.
  if (limits.max_tensor_bytes < (int64_t{1} << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_tensor_bytes must be >= 1048576 (1 MiB), got ", limits.max_tensor_bytes));
  }
  if (limits.max_model_memory_bytes < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_model_memory_bytes must be -1 (auto), 0 (no limit) or a byte count, got ",
                     limits.max_model_memory_bytes));
  }
  return absl::OkStatus();
}

int64_t DefaultMemoryBudget(const char* cgroup_root) {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  int64_t available = pages > 0 && page_size > 0 ? int64_t{pages} * page_size : int64_t{8} << 30;
  const std::string root(cgroup_root);
  std::optional<int64_t> limit = ReadLimitFile(root + "/memory.max");
  if (!limit) limit = ReadLimitFile(root + "/memory/memory.limit_in_bytes");
  if (limit) available = std::min(available, *limit);  // v1 reports ~2^63 when unlimited
  return available / 4 * 3;
}

int64_t ResolveMemoryBudget(int64_t flag_value) { return flag_value == -1 ? DefaultMemoryBudget() : flag_value; }

}  // namespace q8::server
