// The engine tests' one way to compile a model made with OnnxBuilder (kept
// apart from test_util.h, whose users do not all link the ONNX builder).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "engine/compiler.h"
#include "tests/testing/onnx_builder.h"

namespace q8::engine::testing {

// The builder's model compiled with these options; a failure to compile
// fails the test and gives null. Warm-up off by default, so a test's own
// runs are the model's first (plan-build counts start at zero).
inline std::shared_ptr<const CompiledModel> CompileOrDie(const q8::testing::OnnxBuilder& b,
                                                         int64_t max_cached_plans = 64,
                                                         std::vector<int64_t> warmup_batch_sizes = {}) {
  CompileOptions o;
  o.max_cached_plans = max_cached_plans;
  o.warmup_batch_sizes = std::move(warmup_batch_sizes);
  auto m = Compile(b.Serialize(), o);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

}  // namespace q8::engine::testing
