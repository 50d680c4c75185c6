// The q8serve executable's OpenMP wait policy (why: omp_wait_policy.cc).
#pragma once

namespace q8::server {

// Call first thing in main(). When the operator set neither GOMP_SPINCOUNT
// nor OMP_WAIT_POLICY, sets GOMP_SPINCOUNT=100 and re-executes the binary
// with the same arguments (libgomp reads its environment once, in its
// constructor, before main runs). Returns only when no re-exec was needed
// or it failed (then the server runs with libgomp's default).
void ApplyOmpWaitPolicy(char** argv);

}  // namespace q8::server
