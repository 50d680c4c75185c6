// The engine's view of intra-op threading, for callers above it (server/
// execution streams) that must not reach into kernels/. A thread's count
// applies to every plan it builds or runs; see kernels/threading.h for why
// it is per thread.
#pragma once

#include "kernels/threading.h"

namespace q8::engine {

inline int IntraOpThreads() { return kernels::IntraOpThreads(); }
inline void SetIntraOpThreads(int n) { kernels::SetIntraOpThreads(n); }

}  // namespace q8::engine
