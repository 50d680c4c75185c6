// Owns the per-thread intra-op thread count (OpenMP's nthreads-var ICV,
// which is per thread in OpenMP and is what oneDNN reads).
#include "kernels/threading.h"

#include <omp.h>

#include <algorithm>

namespace q8::kernels {

int IntraOpThreads() { return omp_get_max_threads(); }

void SetIntraOpThreads(int n) { omp_set_num_threads(std::max(1, n)); }

// OpenMP 5.0's pause: libgomp frees the calling thread's pool (joins its
// workers and lowers its count of managed threads, which decides throttling).
void ReleaseIntraOpTeam() { omp_pause_resource_all(omp_pause_soft); }

}  // namespace q8::kernels
