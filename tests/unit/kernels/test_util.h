// Helpers for the kernels tests: a small ProgramSpec builder that lays values
// out in an arena, seeded random data, one-shot Program runs, and the fp32
// tolerance check.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "kernels/program.h"
#include "tests/unit/kernels/reference_ops.h"

namespace q8::kernels::testing {

class SpecBuilder {
 public:
  using DT = core::DataType;
  // next input / output slot, plain; scale only matters for u8/s8
  int Input(core::Dims dims, DT dtype = DT::kFloat32, float scale = 1.0f);
  int Output(core::Dims dims, DT dtype = DT::kFloat32, float scale = 1.0f);
  int Arena(core::Dims dims, Layout layout = Layout::kPlain, DT dtype = DT::kFloat32, float scale = 1.0f);
  // A second view of `value`'s storage (same offset or slot).
  int Alias(int value, core::Dims dims, Layout layout = Layout::kPlain);
  // Same storage, dims and layout, another type / scale.
  int Retype(int value, DT dtype, float scale);
  void Step(std::string op, KernelParams params, std::vector<int> inputs, std::vector<int> outputs);
  ProgramSpec& spec() { return spec_; }
  ProgramSpec Build() const { return spec_; }

 private:
  ProgramSpec spec_;
};

// Uniform in [lo, hi), seeded.
std::vector<float> Random(int64_t count, uint32_t seed, float lo = -1.0f, float hi = 1.0f);
RefTensor RandomTensor(core::Dims dims, uint32_t seed, float lo = -1.0f, float hi = 1.0f);
ConstTensorPtr Constant(const RefTensor& t);

// Elements per output slot (largest kOutput value of the slot).
std::vector<int64_t> OutputSizes(const ProgramSpec& spec);
// One Run with caller-owned buffers (outputs must be presized).
absl::Status RunWith(const Program& program, Workspace& ws, const std::vector<std::vector<float>>& inputs,
                     std::vector<std::vector<float>>& outputs);
// Runs once with a fresh workspace; outputs sized from `spec`, prefilled with
// NaN so an unwritten element fails AllClose.
absl::StatusOr<std::vector<std::vector<float>>> RunOnce(const Program& program, const ProgramSpec& spec,
                                                        const std::vector<std::vector<float>>& inputs);

// in -> step -> out; for Layout::kNhwc the step runs between reorders to and
// from NHWC, as a planner would place it.
ProgramSpec OneStep(const core::Dims& x, const core::Dims& y, KernelParams params, Layout layout);

// Builds spec (with a fresh or given cache), runs once, returns output 0.
absl::StatusOr<std::vector<float>> BuildAndRun(const ProgramSpec& spec, const std::vector<std::vector<float>>& inputs,
                                               WeightCache* cache = nullptr);

// fp32 tolerance for every kernels test: |got - ref| <= 1e-4 * (1 + |ref|).
::testing::AssertionResult AllClose(const std::vector<float>& got, const std::vector<float>& ref);

}  // namespace q8::kernels::testing
