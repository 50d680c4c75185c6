// The q8serve executable's OpenMP wait policy.
//
// libgomp decides how long a thread waiting at a barrier or for the next
// parallel region spins before it sleeps in a futex from GOMP_SPINCOUNT /
// OMP_WAIT_POLICY, read once by its constructor. Its default spins ~300 000
// times (milliseconds), but only while the process holds no more OpenMP
// threads than CPUs; past that it spins 100 times. So the server's waiting
// depended on how many teams happened to exist (one per multi-threaded
// stream of every model, plus the loader's), and engine_bench (one team)
// spun where the server slept. Measured (BENCHMARKS.md, "Served vs
// in-process"): on a contended host long spinning is ruinous -- a waiting
// thread burns the CPU its preempted partner needs (MobileNetV2 at 2
// threads: 3-6 ms per run with 100 spins, 120-1200 ms with the default) --
// while on a quiet host it saves a thread wake-up per parallel region, and
// 100 spins are too few for that: MobileNetV2 int8 at 2 threads ran 3.5-3.7
// ms with 100, 1.5-1.9 ms with 1 000 to 300 000. 1 000 spins (a few
// microseconds) was the best measured both quiet (1.66 ms) and with two
// busy processes on the 2 CPUs (6.4 ms; 100: 12.2, 10 000: 31.9, default:
// 23.5). So q8serve waits that long whatever number of teams exists:
// GOMP_SPINCOUNT=kGompSpinCount with OMP_WAIT_POLICY=active, unless the
// operator chose. The policy matters because libgomp cuts the spin to its
// "throttled" count once the process has more OpenMP threads than CPUs (a
// server with several multi-threaded models does): 100 spins by default,
// but min(1000, GOMP_SPINCOUNT) under the active policy. Without it a
// server with three models ran MobileNetV2 at 2 threads in 3.5 ms where one
// team alone took 1.5 ms (BENCHMARKS.md).
//
// How: the variable must be in the environment before libgomp's constructor
// runs, which is before main() (and glibc resets the environment after an
// ELF pre-init hook could set it), so main() re-executes the binary once.
// By its real path, not /proc/self/exe: the kernel names a process after the
// file it executes, and "exe" in ps, top and pkill would hide the server
// (the container smoke test finds q8serve by that name).
#include "server/omp_wait_policy.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace q8::server {

void ApplyOmpWaitPolicy(char** argv) {
  if (std::getenv("GOMP_SPINCOUNT") != nullptr || std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv("GOMP_SPINCOUNT", kGompSpinCount, /*overwrite=*/0) != 0) return;
  if (setenv("OMP_WAIT_POLICY", "active", /*overwrite=*/0) != 0) return;
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  // A binary replaced on disk since it started reads as "... (deleted)":
  // only /proc/self/exe still reaches this one.
  if (n > 0) path[n] = '\0';
  execv(n > 0 && access(path, X_OK) == 0 ? path : "/proc/self/exe", argv);
  // Only on failure (e.g. no /proc): run on with libgomp's default.
  std::fprintf(stderr, "q8serve: could not re-execute to set GOMP_SPINCOUNT=%s (%s); using libgomp's default\n",
               kGompSpinCount, std::strerror(errno));
}

}  // namespace q8::server
