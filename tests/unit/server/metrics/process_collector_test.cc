#include "server/metrics/process_collector.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace q8::server::metrics {
namespace {

// "Threads:" / "VmRSS:" from /proc/self/status (an independent source).
double StatusField(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1));
  }
  return -1;
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST(ProcessCollectorTest, ValuesAgreeWithProc) {
  const ProcessStats s = ReadProcessStats();
  ASSERT_TRUE(s.cpu_seconds && s.resident_bytes && s.virtual_bytes && s.open_fds && s.max_fds && s.start_time_seconds &&
              s.threads);
  EXPECT_GE(*s.cpu_seconds, 0);
  EXPECT_EQ(*s.threads, StatusField("Threads"));
  const double rss_kb = StatusField("VmRSS");
  EXPECT_NEAR(*s.resident_bytes / 1024, rss_kb, rss_kb * 0.2 + 1024);
  EXPECT_GE(*s.virtual_bytes, *s.resident_bytes);
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(*s.max_fds, static_cast<double>(limit.rlim_cur));
  // Started before now, and not before the test binary could have started.
  EXPECT_LE(*s.start_time_seconds, NowSeconds() + 1);
  EXPECT_GT(*s.start_time_seconds, NowSeconds() - 3600);
}

TEST(ProcessCollectorTest, CountsOpenFdsAndThreads) {
  const ProcessStats before = ReadProcessStats();
  int fds[3];
  for (int& fd : fds) fd = ::open("/dev/null", O_RDONLY);
  bool stop = false;
  std::thread t([&stop] {
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  const ProcessStats during = ReadProcessStats();
  __atomic_store_n(&stop, true, __ATOMIC_RELEASE);
  t.join();
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(*during.open_fds, *before.open_fds + 3);
  EXPECT_EQ(*during.threads, *before.threads + 1);
}

double CpuClockSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

TEST(ProcessCollectorTest, CpuTimeFollowsTheCpuClock) {
  // Busy until the kernel's CPU clock (independent of /proc parsing) says
  // 0.2 s were used; /proc counts in clock ticks (10 ms), hence the margin.
  const double before = *ReadProcessStats().cpu_seconds;
  const double clock_before = CpuClockSeconds();
  volatile double x = 0;
  while (CpuClockSeconds() < clock_before + 0.2) x = x + 1;
  const double after = *ReadProcessStats().cpu_seconds;
  EXPECT_GE(after - before, 0.15);
  EXPECT_LE(after - before, 0.2 + 0.1 + (CpuClockSeconds() - clock_before - 0.2));
}

// A process's CPU time by pid (what bench/grpc_echo reads of its server
// child), here this process's own pid, against the kernel's CPU clock; a pid
// that does not exist has none. (No fork: server_test also runs under TSan.)
TEST(ProcessCollectorTest, ReadsCpuTimeByPid) {
  const std::optional<double> before = ProcessCpuSeconds(::getpid());
  ASSERT_TRUE(before.has_value());
  const double clock_before = CpuClockSeconds();
  volatile double x = 0;
  while (CpuClockSeconds() < clock_before + 0.2) x = x + 1;
  const std::optional<double> after = ProcessCpuSeconds(::getpid());
  ASSERT_TRUE(after.has_value());
  EXPECT_GE(*after - *before, 0.15);  // /proc counts in 10 ms ticks
  EXPECT_LE(*after - *before, CpuClockSeconds() - clock_before + 0.1);
  EXPECT_FALSE(ProcessCpuSeconds(-1).has_value());
}

TEST(ProcessCollectorTest, ExportsStandardNamesAndTypes) {
  const std::string text = prometheus::TextSerializer().Serialize(ProcessCollector().Collect());
  for (const char* line :
       {"# TYPE process_cpu_seconds_total counter", "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_virtual_memory_bytes gauge", "# TYPE process_open_fds gauge", "# TYPE process_max_fds gauge",
        "# TYPE process_start_time_seconds gauge", "# TYPE process_threads gauge"}) {
    EXPECT_THAT(text, ::testing::HasSubstr(line));
  }
}

}  // namespace
}  // namespace q8::server::metrics
