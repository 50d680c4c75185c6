// Counts heap allocations, for the no-allocation tests of the request path
// (tests/unit/engine/hot_path_alloc_test.cc, tests/unit/server/
// request_path_alloc_test.cc).
//
// alloc_counter.cc replaces the global operator new/delete and interposes
// glibc's malloc family, so it sees every allocation in the process; link it
// (the q8_alloc_counter object library) only into a test executable of its
// own, never under a sanitizer (ASan owns malloc). Each allocation is
// attributed by its caller's shared object (dladdr): libdnnl and libgomp
// allocate inside every primitive execution (oneDNN 2.6's C API copies the
// argument array into a hash map per call, parallel_nd wraps its body in a
// std::function); no API lets a caller avoid that, so those are reported,
// not counted as ours. Everything else (the test binary, libstdc++ or
// libprotobuf on its behalf) is ours.
#pragma once

#include <cstdint>
#include <cstdio>

namespace q8::testing {

struct AllocationCounts {
  int64_t ours = 0;     // outside libdnnl/libgomp
  int64_t library = 0;  // inside libdnnl/libgomp
};

// Counting is process-wide (every thread) between the two calls.
void StartCountingAllocations();
AllocationCounts StopCountingAllocations();

// Allocations of ours made by `runs` calls of `fn`, after `warmup` unmeasured
// calls that build and warm whatever it uses; prints both counts per call.
template <typename Fn>
int64_t AllocationsOf(Fn fn, int runs = 20, int warmup = 2) {
  for (int i = 0; i < warmup; ++i) fn();
  StartCountingAllocations();
  for (int i = 0; i < runs; ++i) fn();
  const AllocationCounts n = StopCountingAllocations();
  std::printf("  %.1f allocations per call inside libdnnl/libgomp, %.1f elsewhere\n",
              static_cast<double>(n.library) / runs, static_cast<double>(n.ours) / runs);
  return n.ours;
}

// One allocation the compiler cannot elide (a new-expression whose result
// is never used may be removed): the tests' probe that the counter works.
void AllocateOnce();

}  // namespace q8::testing
