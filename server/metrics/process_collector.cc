#include "server/metrics/process_collector.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace q8::server::metrics {
namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Field k (1-based, as in proc(5)) of /proc/<pid>/stat. The command name
// (field 2) is in parentheses and may contain spaces, so fields are counted
// after the last ')'.
std::vector<std::string> StatFields(const std::string& stat) {
  std::vector<std::string> fields = {"", ""};  // placeholders for fields 1 and 2
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  for (absl::string_view f : absl::StrSplit(absl::string_view(stat).substr(close + 1), ' ', absl::SkipEmpty())) {
    fields.emplace_back(f);
  }
  return fields;
}

std::optional<double> Field(const std::vector<std::string>& fields, size_t k) {
  double v = 0;
  if (k >= fields.size() + 1 || !absl::SimpleAtod(fields[k - 1], &v)) return std::nullopt;
  return v;
}

std::optional<double> CpuSeconds(const std::vector<std::string>& stat_fields, double ticks) {
  auto utime = Field(stat_fields, 14), stime = Field(stat_fields, 15);
  if (!utime || !stime || ticks <= 0) return std::nullopt;
  return (*utime + *stime) / ticks;
}

std::optional<double> BootTimeSeconds() {
  auto stat = ReadFile("/proc/stat");
  if (!stat) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) {
      double v = 0;
      if (absl::SimpleAtod(line, &v)) return v;
    }
  }
  return std::nullopt;
}

std::optional<double> OpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  int count = 0;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // not the descriptor this listing itself held open
}

prometheus::MetricFamily Family(const char* name, prometheus::MetricType type, const char* help, double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

std::optional<double> ProcessCpuSeconds(int pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  return CpuSeconds(StatFields(*stat), static_cast<double>(::sysconf(_SC_CLK_TCK)));
}

ProcessStats ReadProcessStats() {
  ProcessStats s;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (auto stat = ReadFile("/proc/self/stat")) {
    const std::vector<std::string> f = StatFields(*stat);
    s.cpu_seconds = CpuSeconds(f, ticks);
    s.threads = Field(f, 20);
    auto start = Field(f, 22);
    auto boot = BootTimeSeconds();
    if (start && boot && ticks > 0) s.start_time_seconds = *boot + *start / ticks;
  }
  if (auto statm = ReadFile("/proc/self/statm")) {
    std::vector<std::string> f = absl::StrSplit(*statm, ' ', absl::SkipWhitespace());
    double size = 0, resident = 0;
    if (f.size() >= 2 && absl::SimpleAtod(f[0], &size) && absl::SimpleAtod(f[1], &resident)) {
      s.virtual_bytes = size * page;
      s.resident_bytes = resident * page;
    }
  }
  s.open_fds = OpenFds();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) s.max_fds = static_cast<double>(limit.rlim_cur);
  return s;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  const ProcessStats s = ReadProcessStats();
  std::vector<prometheus::MetricFamily> out;
  auto add = [&out](const std::optional<double>& v, const char* name, MetricType type, const char* help) {
    if (v) out.push_back(Family(name, type, help, *v));
  };
  add(s.cpu_seconds, "process_cpu_seconds_total", MetricType::Counter, "Total user and system CPU time in seconds.");
  add(s.resident_bytes, "process_resident_memory_bytes", MetricType::Gauge, "Resident memory size in bytes.");
  add(s.virtual_bytes, "process_virtual_memory_bytes", MetricType::Gauge, "Virtual memory size in bytes.");
  add(s.open_fds, "process_open_fds", MetricType::Gauge, "Number of open file descriptors.");
  add(s.max_fds, "process_max_fds", MetricType::Gauge, "Maximum number of open file descriptors.");
  add(s.start_time_seconds, "process_start_time_seconds", MetricType::Gauge,
      "Start time of the process since unix epoch in seconds.");
  add(s.threads, "process_threads", MetricType::Gauge, "Number of OS threads in the process.");
  return out;
}

}  // namespace q8::server::metrics
