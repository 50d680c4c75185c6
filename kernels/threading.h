// Intra-op threading of the kernels, per calling thread.
//
// oneDNN (Debian's build uses OpenMP) sizes its parallel work by the calling
// thread's OpenMP thread count, and several implementations fix that count
// when the primitive is created. So an execution stream that wants k threads
// sets k on its own thread before it builds or runs a plan, and plans are
// cached per thread count (engine/plan/plan_cache.h).
#pragma once

namespace q8::kernels {

// Threads a primitive built or run on this thread will use.
int IntraOpThreads();
// Sets this thread's count (n >= 1); other threads are unaffected.
void SetIntraOpThreads(int n);

}  // namespace q8::kernels
