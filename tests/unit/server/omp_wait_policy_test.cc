// ApplyOmpWaitPolicy: q8serve re-executes itself with GOMP_SPINCOUNT=kGompSpinCount
// and OMP_WAIT_POLICY=active
// unless the operator chose a wait policy. Checked in forked children: one
// re-executes this test binary into the probe below, which reports the
// environment it started with (what libgomp's constructor read) and the
// name the kernel gave it (ps, top and pkill must still see the server's).
#include "server/omp_wait_policy.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace q8::server {
namespace {

constexpr char kProbeOut[] = "Q8_WAIT_POLICY_PROBE_OUT";

std::string ProcessName() {
  std::ifstream comm("/proc/self/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

void WriteSpinCount(const char* path) {
  std::ofstream out(path);
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  out << (spin != nullptr ? spin : "unset") << " " << (policy != nullptr ? policy : "unset") << " " << ProcessName();
}

// Runs only inside a re-executed child (the variable is set there).
TEST(OmpWaitPolicyProbe, WritesEnvironment) {
  if (const char* path = std::getenv(kProbeOut)) WriteSpinCount(path);
}

// Forks; the child sets `preset` (if any), calls ApplyOmpWaitPolicy and,
// if that returned (no re-exec), writes what it sees itself.
std::string SpinCountSeenByServer(const char* preset) {
  char dir[] = "/tmp/q8_wait_policy_XXXXXX";
  EXPECT_NE(mkdtemp(dir), nullptr);
  const std::string out = std::string(dir) + "/spin";
  const pid_t pid = fork();
  if (pid == 0) {
    unsetenv("OMP_WAIT_POLICY");
    if (preset != nullptr) {
      setenv("GOMP_SPINCOUNT", preset, 1);
    } else {
      unsetenv("GOMP_SPINCOUNT");
    }
    setenv(kProbeOut, out.c_str(), 1);
    char arg0[] = "server_test";
    char filter[] = "--gtest_filter=OmpWaitPolicyProbe.WritesEnvironment";
    char* argv[] = {arg0, filter, nullptr};
    ApplyOmpWaitPolicy(argv);
    WriteSpinCount(out.c_str());
    _exit(0);
  }
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  std::remove(out.c_str());
  rmdir(dir);
  return ss.str();
}

TEST(OmpWaitPolicyTest, ServerStartsWithShortSpinUnlessOperatorChose) {
  EXPECT_EQ(SpinCountSeenByServer(nullptr), std::string(kGompSpinCount) + " active " + ProcessName());
  EXPECT_STREQ(kGompSpinCount, "1000");  // the measured choice (omp_wait_policy.cc)
  EXPECT_EQ(SpinCountSeenByServer("5000"), "5000 unset " + ProcessName());
}

}  // namespace
}  // namespace q8::server
