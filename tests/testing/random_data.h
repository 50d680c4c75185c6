// Seeded test data shared by unit and integration tests: the same seed gives
// the same values in every test and on every run.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace q8::testing {

// n floats drawn uniformly from [-1, 1) by a generator seeded with `seed`.
inline std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

}  // namespace q8::testing
