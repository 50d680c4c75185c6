// Seeded test data shared by unit and integration tests: the same seed gives
// the same values in every test and on every run.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "core/tensor.h"

namespace q8::testing {

// n floats drawn uniformly from [-1, 1) by a generator seeded with `seed`.
inline std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// A float32 tensor of `dims` drawn from N(0, stddev^2), seeded with `seed`.
inline core::Tensor Normal(core::Dims dims, uint32_t seed, float stddev = 1.0f) {
  core::Tensor t(core::DataType::kFloat32, std::move(dims));
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0, stddev);
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

}  // namespace q8::testing
