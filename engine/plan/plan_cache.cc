// Plan and workspace pooling.
#include "engine/plan/plan_cache.h"

#include "core/status_macros.h"
#include "kernels/threading.h"

namespace q8::engine {

PlanCache::Lease::~Lease() {
  if (ws_ != nullptr) cache_->Release(key_, std::move(ws_));
}

PlanCache::Key PlanCache::KeyFor(int64_t batch) { return {batch, kernels::IntraOpThreads()}; }

absl::StatusOr<const kernels::Program*> PlanCache::GetProgram(int64_t batch) { return GetProgram(KeyFor(batch)); }

absl::StatusOr<const kernels::Program*> PlanCache::GetProgram(Key key) {
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) return it->second.program.get();
  }
  absl::MutexLock build(&build_mu_);
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) return it->second.program.get();  // built while we waited
  }
  Q8_ASSIGN_OR_RETURN(kernels::ProgramSpec spec, PlanProgram(lowered_, key.first));
  Q8_ASSIGN_OR_RETURN(std::unique_ptr<kernels::Program> program, kernels::Program::Create(std::move(spec), weights_));
  absl::MutexLock lock(&mu_);
  Entry& e = entries_[key];
  e.program = std::move(program);
  return e.program.get();
}

absl::StatusOr<PlanCache::Lease> PlanCache::Acquire(int64_t batch) {
  const Key key = KeyFor(batch);
  {
    // Steady state: one lock, an existing plan and an idle workspace.
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && !it->second.idle.empty()) {
      auto ws = std::move(it->second.idle.back());
      it->second.idle.pop_back();
      return Lease(this, it->second.program.get(), std::move(ws), key);
    }
  }
  Q8_ASSIGN_OR_RETURN(const kernels::Program* program, GetProgram(key));
  Q8_ASSIGN_OR_RETURN(std::unique_ptr<kernels::Workspace> ws, program->NewWorkspace());
  absl::MutexLock lock(&mu_);
  ++entries_[key].workspaces;
  return Lease(this, program, std::move(ws), key);
}

void PlanCache::Release(Key key, std::unique_ptr<kernels::Workspace> ws) {
  absl::MutexLock lock(&mu_);
  entries_[key].idle.push_back(std::move(ws));
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
