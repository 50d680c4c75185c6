// The q8serve executable's OpenMP wait policy (why: omp_wait_policy.cc).
#pragma once

namespace q8::server {

// Spins of a waiting OpenMP thread before it sleeps (why this value:
// omp_wait_policy.cc).
inline constexpr char kGompSpinCount[] = "1000";

// Call first thing in main(). When the operator set neither GOMP_SPINCOUNT
// nor OMP_WAIT_POLICY, sets GOMP_SPINCOUNT=kGompSpinCount and
// OMP_WAIT_POLICY=active (which keeps that count when threads outnumber
// CPUs) and re-executes the binary
// with the same arguments (libgomp reads its environment once, in its
// constructor, before main runs). Returns only when no re-exec was needed
// or it failed (then the server runs with libgomp's default).
void ApplyOmpWaitPolicy(char** argv);

}  // namespace q8::server
