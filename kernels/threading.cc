// Owns the per-thread intra-op thread count (OpenMP's nthreads-var ICV,
// which is per thread in OpenMP and is what oneDNN reads).
#include "kernels/threading.h"

#include <omp.h>

#include <algorithm>

namespace q8::kernels {

int IntraOpThreads() { return omp_get_max_threads(); }

void SetIntraOpThreads(int n) { omp_set_num_threads(std::max(1, n)); }

}  // namespace q8::kernels
