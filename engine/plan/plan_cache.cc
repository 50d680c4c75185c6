// Plan and workspace pooling.
#include "engine/plan/plan_cache.h"

#include <algorithm>
#include <cstring>

#include "core/status_macros.h"
#include "engine/plan/shape_inference.h"
#include "kernels/threading.h"

namespace q8::engine {

PlanCache::Lease::~Lease() {
  if (ws_ != nullptr) cache_->Release(key_, program_.get(), std::move(ws_));
}

PlanCache::Key PlanCache::KeyFor(absl::Span<const core::TensorView> inputs) const {
  Key key;
  key.push_back(kernels::IntraOpThreads());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const core::TensorView& t = inputs[i];
    key.push_back(static_cast<int64_t>(t.dims.size()));
    key.insert(key.end(), t.dims.begin(), t.dims.end());
    if (i < lowered_.shape_value_inputs.size() && lowered_.shape_value_inputs[i] && t.data != nullptr) {
      // Validated: INT64/INT32/FP32/FP64, at most kMaxShapeValueElements
      // elements. Keyed by their bits (each input has one dtype, so equal
      // bits are equal values; -0.0 and NaN payloads key their own plans).
      const int64_t n = t.num_elements();
      const size_t esize = core::SizeOf(t.dtype);
      key.push_back(n);
      for (int64_t k = 0; k < n; ++k) {
        int64_t bits = 0;
        std::memcpy(&bits, static_cast<const char*>(t.data) + k * esize, std::min(esize, sizeof(bits)));
        key.push_back(bits);
      }
    }
  }
  return key;
}

PlanShapes PlanCache::ShapesFor(absl::Span<const core::TensorView> inputs) const {
  PlanShapes shapes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    shapes.dims.push_back(inputs[i].dims);
    std::shared_ptr<core::Tensor> values;
    if (i < lowered_.shape_value_inputs.size() && lowered_.shape_value_inputs[i] && inputs[i].data != nullptr) {
      values = std::make_shared<core::Tensor>(inputs[i].dtype, inputs[i].dims);
      if (inputs[i].byte_size() > 0) std::memcpy(values->data(), inputs[i].data, inputs[i].byte_size());
    }
    shapes.values.push_back(std::move(values));
  }
  return shapes;
}

absl::StatusOr<std::shared_ptr<const kernels::Program>> PlanCache::GetProgram(int64_t batch) {
  std::vector<core::Tensor> zeros;
  std::vector<core::TensorView> views;
  for (const GraphInput& in : lowered_.graph->inputs()) {
    zeros.push_back(core::Tensor::Placeholder(in.dtype, RepresentativeDims(in, batch)));
  }
  for (const core::Tensor& t : zeros) views.push_back(t.view());
  Q8_ASSIGN_OR_RETURN(auto got, Get(KeyFor(views), views));
  return std::move(got.first);
}

absl::StatusOr<std::vector<core::Dims>> PlanCache::OutputDims(absl::Span<const core::TensorView> inputs) {
  const Key key = KeyFor(inputs);
  {
    // Any plan for these shapes answers, whatever thread count it runs at
    // (key[0]); the shapes follow.
    absl::MutexLock lock(&mu_);
    for (const auto& [k, e] : entries_) {
      if (std::equal(k.begin() + 1, k.end(), key.begin() + 1, key.end())) return e.output_dims;
    }
  }
  // No plan for these shapes yet: infer the dims without building one. This
  // runs on the caller's (e.g. a gRPC) thread, and a plan built here would
  // be keyed by that thread's count, never the executing stream's.
  return PlanOutputDims(lowered_, ShapesFor(inputs));
}

absl::StatusOr<std::pair<std::shared_ptr<const kernels::Program>, std::vector<core::Dims>>> PlanCache::Get(
    const Key& key, absl::Span<const core::TensorView> inputs) {
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      it->second.last_used = ++tick_;
      return std::make_pair(it->second.program, it->second.output_dims);
    }
  }
  absl::MutexLock build(&build_mu_);
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) return std::make_pair(it->second.program, it->second.output_dims);  // built meanwhile
  }
  Q8_ASSIGN_OR_RETURN(kernels::ProgramSpec spec, PlanProgram(lowered_, ShapesFor(inputs)));
  std::vector<core::Dims> output_dims(spec.num_outputs);
  for (const kernels::ValueSpec& v : spec.values) {
    if (v.storage == kernels::Storage::kOutput && v.slot >= 0 && v.slot < spec.num_outputs)
      output_dims[v.slot] = v.dims;
  }
  Q8_ASSIGN_OR_RETURN(std::unique_ptr<kernels::Program> program, kernels::Program::Create(std::move(spec), weights_));
  absl::MutexLock lock(&mu_);
  ++plan_builds_;
  // Least recently used first; runs holding an evicted plan keep it alive through their Lease.
  while (max_plans_ > 0 && entries_.size() >= max_plans_) {
    auto lru = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.last_used < lru->second.last_used) lru = it;
    }
    entries_.erase(lru);
  }
  Entry& e = entries_[key];
  e.program = std::move(program);
  e.output_dims = std::move(output_dims);
  e.last_used = ++tick_;
  return std::make_pair(e.program, e.output_dims);
}

absl::StatusOr<PlanCache::Lease> PlanCache::Acquire(absl::Span<const core::TensorView> inputs) {
  Key key = KeyFor(inputs);
  {
    // Steady state: one lock, an existing plan and an idle workspace.
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && !it->second.idle.empty()) {
      auto ws = std::move(it->second.idle.back());
      it->second.idle.pop_back();
      it->second.last_used = ++tick_;
      return Lease(this, it->second.program, std::move(ws), std::move(key));
    }
  }
  Q8_ASSIGN_OR_RETURN(auto got, Get(key, inputs));
  std::shared_ptr<const kernels::Program> program = std::move(got.first);
  Q8_ASSIGN_OR_RETURN(std::unique_ptr<kernels::Workspace> ws, program->NewWorkspace());
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.program == program) ++it->second.workspaces;
  return Lease(this, std::move(program), std::move(ws), std::move(key));
}

void PlanCache::Release(const Key& key, const kernels::Program* program, std::unique_ptr<kernels::Workspace> ws) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  // A workspace of an evicted plan goes with it.
  if (it != entries_.end() && it->second.program.get() == program) it->second.idle.push_back(std::move(ws));
}

void PlanCache::ReleaseWeightSources() {
  absl::MutexLock build(&build_mu_);
  for (Lowering& l : lowered_.lowerings) {
    if (auto* conv = std::get_if<kernels::ConvParams>(&l.params); conv && conv->weights_id != 0) {
      conv->weights = nullptr;
      conv->qweights.values = nullptr;
    }
    if (auto* mm = std::get_if<kernels::MatMulParams>(&l.params); mm && mm->weights_id != 0) {
      mm->weights = nullptr;
      mm->qweights.values = nullptr;
    }
  }
}

int64_t PlanCache::plan_builds() const {
  absl::MutexLock lock(&mu_);
  return plan_builds_;
}

size_t PlanCache::num_programs() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

int64_t PlanCache::arena_bytes() const {
  absl::MutexLock lock(&mu_);
  int64_t total = 0;
  for (const auto& [key, e] : entries_) total += e.workspaces * e.program->arena_bytes();
  return total;
}

int64_t PlanCache::scratchpad_bytes() const {
  absl::MutexLock lock(&mu_);
  int64_t total = 0;
  for (const auto& [key, e] : entries_) total += e.workspaces * e.program->scratchpad_bytes();
  return total;
}

}  // namespace q8::engine
