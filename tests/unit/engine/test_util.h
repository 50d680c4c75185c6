// Helpers shared by the engine tests: loading test files and comparing
// outputs with stated tolerances.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/npy.h"
#include "engine/compiler.h"

namespace q8::engine::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string DataPath(const std::string& name) { return std::string(Q8_TEST_DATA_DIR) + "/" + name; }

inline core::Tensor LoadNpy(const std::string& path) {
  auto t = core::ReadNpyFile(path);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : core::Tensor();
}

// Rows [begin, begin+count) of a batch-major tensor as a view.
inline core::TensorView Rows(const core::Tensor& t, int64_t begin, int64_t count) {
  core::Dims dims = t.dims();
  const int64_t row = t.num_elements() / dims[0];
  dims[0] = count;
  return {t.dtype(), dims, static_cast<const char*>(t.data()) + begin * row * core::SizeOf(t.dtype())};
}

// Output 0 of `model` over the first `count` rows of every input (all
// batch-major with the same leading count), run `batch` rows at a time.
inline absl::StatusOr<std::vector<float>> RunInBatchesOf(const CompiledModel& model,
                                                         std::vector<const core::Tensor*> inputs, int64_t count,
                                                         int64_t batch) {
  std::vector<float> out;
  for (int64_t b = 0; b < count; b += batch) {
    const int64_t n = std::min(batch, count - b);
    std::vector<core::TensorView> views;
    for (const core::Tensor* t : inputs) views.push_back(Rows(*t, b, n));
    auto result = model.Run(views);
    if (!result.ok()) return result.status();
    auto s = (*result)[0].span<float>();
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

inline float MaxAbsDiff(absl::Span<const float> a, absl::Span<const float> b) {
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return a.size() == b.size() ? m : std::numeric_limits<float>::infinity();
}

// Normal(0, scale) float samples of `dims`, reproducible from `seed`.
inline core::Tensor RandomInput(core::Dims dims, uint32_t seed = 7, float scale = 1.0f) {
  core::Tensor t(core::DataType::kFloat32, std::move(dims));
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0, scale);
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

inline int ArgMax(const float* row, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i) best = row[i] > row[best] ? i : best;
  return best;
}

}  // namespace q8::engine::testing
