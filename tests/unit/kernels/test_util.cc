// Helpers for the kernels tests (see test_util.h).
#include "tests/unit/kernels/test_util.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/tensor.h"

namespace q8::kernels::testing {
namespace {

int64_t Bytes(const core::Dims& dims, core::DataType dtype) { return core::NumElements(dims) * core::SizeOf(dtype); }

}  // namespace

int SpecBuilder::Input(core::Dims dims, DT dtype, float scale) {
  spec_.values.push_back({.dtype = dtype,
                          .scale = scale,
                          .dims = std::move(dims),
                          .storage = Storage::kInput,
                          .slot = spec_.num_inputs++});
  return static_cast<int>(spec_.values.size()) - 1;
}

int SpecBuilder::Output(core::Dims dims, DT dtype, float scale) {
  spec_.values.push_back({.dtype = dtype,
                          .scale = scale,
                          .dims = std::move(dims),
                          .storage = Storage::kOutput,
                          .slot = spec_.num_outputs++});
  return static_cast<int>(spec_.values.size()) - 1;
}

int SpecBuilder::Arena(core::Dims dims, Layout layout, DT dtype, float scale) {
  const int64_t offset = spec_.arena_bytes;
  spec_.arena_bytes += (Bytes(dims, dtype) + 63) / 64 * 64;
  spec_.values.push_back({.dtype = dtype,
                          .scale = scale,
                          .dims = std::move(dims),
                          .layout = layout,
                          .storage = Storage::kArena,
                          .offset = offset});
  return static_cast<int>(spec_.values.size()) - 1;
}

int SpecBuilder::Retype(int value, DT dtype, float scale) {
  ValueSpec v = spec_.values[value];
  v.dtype = dtype;
  v.scale = scale;
  spec_.values.push_back(v);
  return static_cast<int>(spec_.values.size()) - 1;
}

int SpecBuilder::Alias(int value, core::Dims dims, Layout layout) {
  ValueSpec v = spec_.values[value];
  v.dims = std::move(dims);
  v.layout = layout;
  spec_.values.push_back(v);
  return static_cast<int>(spec_.values.size()) - 1;
}

void SpecBuilder::Step(std::string op, KernelParams params, std::vector<int> inputs, std::vector<int> outputs) {
  const std::string name = op + "_" + std::to_string(spec_.steps.size());
  spec_.steps.push_back({name, std::move(op), std::move(params), std::move(inputs), std::move(outputs)});
}

std::vector<float> Random(int64_t count, uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> out(count);
  for (float& v : out) v = dist(gen);
  return out;
}

RefTensor RandomTensor(core::Dims dims, uint32_t seed, float lo, float hi) {
  const int64_t n = core::NumElements(dims);
  return {std::move(dims), Random(n, seed, lo, hi)};
}

ConstTensorPtr Constant(const RefTensor& t) {
  return std::make_shared<const core::Tensor>(core::Tensor::FromFloats(t.dims, t.data));
}

std::vector<int64_t> OutputSizes(const ProgramSpec& spec) {
  std::vector<int64_t> sizes(spec.num_outputs, 0);
  for (const ValueSpec& v : spec.values) {
    if (v.storage == Storage::kOutput) sizes[v.slot] = std::max(sizes[v.slot], core::NumElements(v.dims));
  }
  return sizes;
}

absl::Status RunWith(const Program& program, Workspace& ws, const std::vector<std::vector<float>>& inputs,
                     std::vector<std::vector<float>>& outputs) {
  std::vector<const void*> in;
  for (const auto& v : inputs) in.push_back(v.data());
  std::vector<void*> out;
  for (auto& v : outputs) out.push_back(v.data());
  return program.Run(ws, in, out);
}

absl::StatusOr<std::vector<std::vector<float>>> RunOnce(const Program& program, const ProgramSpec& spec,
                                                        const std::vector<std::vector<float>>& inputs) {
  auto ws = program.NewWorkspace();
  if (!ws.ok()) return ws.status();
  std::vector<std::vector<float>> outputs;
  for (int64_t n : OutputSizes(spec)) outputs.emplace_back(n, std::nanf(""));
  absl::Status status = RunWith(program, **ws, inputs, outputs);
  if (!status.ok()) return status;
  return outputs;
}

ProgramSpec OneStep(const core::Dims& x, const core::Dims& y, KernelParams params, Layout layout) {
  SpecBuilder b;
  const int in = b.Input(x), out = b.Output(y);
  if (layout == Layout::kNhwc) {
    const int xn = b.Arena(x, Layout::kNhwc), yn = b.Arena(y, Layout::kNhwc);
    b.Step("Reorder", ReorderParams{}, {in}, {xn});
    b.Step("Op", std::move(params), {xn}, {yn});
    b.Step("Reorder", ReorderParams{}, {yn}, {out});
  } else {
    b.Step("Op", std::move(params), {in}, {out});
  }
  return b.Build();
}

absl::StatusOr<std::vector<float>> BuildAndRun(const ProgramSpec& spec, const std::vector<std::vector<float>>& inputs,
                                               WeightCache* cache) {
  WeightCache local;
  auto program = Program::Create(spec, cache != nullptr ? *cache : local);
  if (!program.ok()) return program.status();
  auto outputs = RunOnce(**program, spec, inputs);
  if (!outputs.ok()) return outputs.status();
  return (*outputs)[0];
}

::testing::AssertionResult AllClose(const std::vector<float>& got, const std::vector<float>& ref) {
  if (got.size() != ref.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << " vs reference " << ref.size();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const float tol = 1e-4f * (1.0f + std::fabs(ref[i]));
    if (!(std::fabs(got[i] - ref[i]) <= tol)) {  // also catches NaN (unwritten output)
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << got[i] << ", reference " << ref[i] << " (tolerance " << tol << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace q8::kernels::testing
