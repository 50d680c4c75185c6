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

// Ends the calling thread's idle OpenMP team, if it has one (no-op inside a
// parallel region). libgomp keeps a team of worker threads for every thread
// that ever ran a parallel region with more than one thread, until that
// thread exits; and once the process holds more such threads than CPUs, it
// throttles the spin-wait of *every* team (100 spins instead of ~300 000
// before a futex sleep), so each parallel region of a run pays a thread
// wake-up. A thread that ran parallel work once (a model load, calibration)
// and will not again calls this so that only the execution streams hold teams.
void ReleaseIntraOpTeam();

}  // namespace q8::kernels
