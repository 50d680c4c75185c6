// ResourceLimits: flag validation names the flag; the default memory budget
// follows the cgroup limit when there is one.
#include "server/resource_limits.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace q8::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(ResourceLimitsTest, DefaultsAreValid) { EXPECT_TRUE(ValidateResourceLimits(ResourceLimits{}).ok()); }

TEST(ResourceLimitsTest, OutOfRangeValuesNameTheirFlag) {
  auto error = [](void (*set)(ResourceLimits&)) {
    ResourceLimits l;
    set(l);
    absl::Status s = ValidateResourceLimits(l);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    return std::string(s.message());
  };
  EXPECT_THAT(error([](ResourceLimits& l) { l.max_request_bytes = 0; }), HasSubstr("--max_request_bytes must be >= 1"));
  EXPECT_THAT(error([](ResourceLimits& l) { l.max_concurrent_loads = 0; }),
              HasSubstr("--max_concurrent_loads must be >= 1"));
  EXPECT_THAT(error([](ResourceLimits& l) { l.max_queue_size = -5; }), HasSubstr("--max_queue_size must be >= 1"));
  EXPECT_THAT(error([](ResourceLimits& l) { l.max_threads_per_cpu = 65; }),
              HasSubstr("--max_threads_per_cpu must be in [1, 64], got 65"));
  EXPECT_THAT(error([](ResourceLimits& l) { l.max_tensor_bytes = 1000; }),
              HasSubstr("--max_tensor_bytes must be >= 1048576 (1 MiB), got 1000"));
  EXPECT_THAT(error([](ResourceLimits& l) { l.max_model_memory_bytes = -2; }),
              HasSubstr("--max_model_memory_bytes must be -1 (auto), 0 (no limit)"));
}

TEST(ResourceLimitsTest, ThreadsPerModelScaleWithCpus) {
  ResourceLimits l;
  l.max_threads_per_cpu = 4;
  EXPECT_EQ(MaxThreadsPerModel(l, 2), 8);
  EXPECT_EQ(MaxThreadsPerModel(l, 0), 4);
}

TEST(ResourceLimitsTest, DefaultMemoryBudgetIsThreeQuartersOfTheCgroupLimit) {
  const fs::path root = fs::temp_directory_path() / ("q8limits_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "memory");
  const int64_t physical = DefaultMemoryBudget(root.c_str());  // no limit files: physical memory
  EXPECT_GT(physical, 0);
  std::ofstream(root / "memory.max") << "max\n";
  EXPECT_EQ(DefaultMemoryBudget(root.c_str()), physical);
  std::ofstream(root / "memory.max") << "4000000\n";
  EXPECT_EQ(DefaultMemoryBudget(root.c_str()), 3000000);
  fs::remove(root / "memory.max");
  std::ofstream(root / "memory" / "memory.limit_in_bytes") << "400\n";  // cgroup v1
  EXPECT_EQ(DefaultMemoryBudget(root.c_str()), 300);
  EXPECT_EQ(ResolveMemoryBudget(0), 0);
  EXPECT_EQ(ResolveMemoryBudget(12345), 12345);
  EXPECT_GT(ResolveMemoryBudget(-1), 0);
  fs::remove_all(root);
}

}  // namespace
}  // namespace q8::server
