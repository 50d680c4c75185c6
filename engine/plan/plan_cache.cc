// Plan and workspace pooling.
#include "engine/plan/plan_cache.h"

#include "core/status_macros.h"
#include "kernels/threading.h"

namespace q8::engine {

PlanCache::Lease::~Lease() {
  if (ws_ != nullptr) cache_->Release(key_, program_.get(), std::move(ws_));
}

PlanCache::Key PlanCache::KeyFor(int64_t batch) { return {batch, kernels::IntraOpThreads()}; }

absl::StatusOr<std::shared_ptr<const kernels::Program>> PlanCache::GetProgram(int64_t batch) {
  return GetProgram(KeyFor(batch));
}

absl::StatusOr<std::shared_ptr<const kernels::Program>> PlanCache::GetProgram(Key key) {
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      it->second.last_used = ++tick_;
      return it->second.program;
    }
  }
  absl::MutexLock build(&build_mu_);
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) return it->second.program;  // built while we waited
  }
  Q8_ASSIGN_OR_RETURN(kernels::ProgramSpec spec, PlanProgram(lowered_, key.first));
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
  e.last_used = ++tick_;
  return e.program;
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
      it->second.last_used = ++tick_;
      return Lease(this, it->second.program, std::move(ws), key);
    }
  }
  Q8_ASSIGN_OR_RETURN(std::shared_ptr<const kernels::Program> program, GetProgram(key));
  Q8_ASSIGN_OR_RETURN(std::unique_ptr<kernels::Workspace> ws, program->NewWorkspace());
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.program == program) ++it->second.workspaces;
  return Lease(this, std::move(program), std::move(ws), key);
}

void PlanCache::Release(Key key, const kernels::Program* program, std::unique_ptr<kernels::Workspace> ws) {
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
