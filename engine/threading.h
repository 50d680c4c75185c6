// The engine's view of intra-op threading, for callers above it (server/
// execution streams) that must not reach into kernels/. A thread's count
// applies to every plan it builds or runs; see kernels/threading.h for why
// it is per thread.
#pragma once

#include "kernels/threading.h"

namespace q8::engine {

inline int IntraOpThreads() { return kernels::IntraOpThreads(); }
inline void SetIntraOpThreads(int n) { kernels::SetIntraOpThreads(n); }

// Sets this thread's count for a scope (e.g. a load that should build its
// warm-up plans, and measure, at the thread count the model will serve with).
class ScopedIntraOpThreads {
 public:
  explicit ScopedIntraOpThreads(int n) : saved_(IntraOpThreads()) { SetIntraOpThreads(n); }
  ~ScopedIntraOpThreads() { SetIntraOpThreads(saved_); }
  ScopedIntraOpThreads(const ScopedIntraOpThreads&) = delete;
  ScopedIntraOpThreads& operator=(const ScopedIntraOpThreads&) = delete;

 private:
  int saved_;
};

}  // namespace q8::engine
