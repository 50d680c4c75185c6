// The engine's view of intra-op threading, for callers above it (server/
// execution streams) that must not reach into kernels/. A thread's count
// applies to every plan it builds or runs; see kernels/threading.h for why
// it is per thread.
#pragma once

#include "kernels/threading.h"

namespace q8::engine {

inline int IntraOpThreads() { return kernels::IntraOpThreads(); }
inline void SetIntraOpThreads(int n) { kernels::SetIntraOpThreads(n); }
inline void ReleaseIntraOpTeam() { kernels::ReleaseIntraOpTeam(); }

// Sets this thread's count for a scope (e.g. a load that should build its
// warm-up plans, and measure, at the thread count the model will serve with).
// Such scopes run on threads that are not execution streams (the main
// thread, an RPC thread, a calibration thread): on leaving, the OpenMP team
// the scope may have started is ended, so idle teams do not accumulate and
// make libgomp throttle the streams' spin-waiting (kernels/threading.h).
class ScopedIntraOpThreads {
 public:
  explicit ScopedIntraOpThreads(int n) : saved_(IntraOpThreads()) { SetIntraOpThreads(n); }
  ~ScopedIntraOpThreads() {
    if (IntraOpThreads() > 1) ReleaseIntraOpTeam();
    SetIntraOpThreads(saved_);
  }
  ScopedIntraOpThreads(const ScopedIntraOpThreads&) = delete;
  ScopedIntraOpThreads& operator=(const ScopedIntraOpThreads&) = delete;

 private:
  int saved_;
};

}  // namespace q8::engine
