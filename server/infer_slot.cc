// InferSlot and InferPool (server/infer_slot.h).
#include "server/infer_slot.h"

#include <algorithm>
#include <utility>

namespace q8::server {

void InferSlot::Start(ModelRegistry* registry, ServingState* state, int64_t max_request_bytes,
                      std::chrono::system_clock::time_point deadline, InferCall::Finish finish, bool may_run_inline) {
  call_.emplace(registry, state, max_request_bytes, &request_, &response_, deadline, &scratch_, std::move(finish))
      .Start(may_run_inline);
}

void InferSlot::Release() { pool_->Recycle(this); }

InferSlot* InferPool::Allocate() {
  {
    absl::MutexLock lock(&mu_);
    if (!free_.empty()) {
      InferSlot* slot = free_.back().release();
      free_.pop_back();
      return slot;
    }
  }
  return new InferSlot(this);
}

void InferPool::Recycle(InferSlot* slot) {
  std::unique_ptr<InferSlot> owned(slot);
  owned->call_.reset();  // ends the call: in-flight count, metrics gauge
  owned->responder.reset();
  owned->context.reset();
  owned->scratch_.Release();  // the model may be unloaded while the slot waits
  // Cleared messages keep the storage of their largest contents so far.
  owned->largest_bytes_ =
      std::max(owned->largest_bytes_, owned->request_.ByteSizeLong() + owned->response_.ByteSizeLong());
  if (owned->largest_bytes_ > kMaxPooledMessageBytes) return;
  owned->request_.Clear();
  owned->response_.Clear();
  absl::MutexLock lock(&mu_);
  if (free_.size() < kMaxFreeSlots) free_.push_back(std::move(owned));
}

size_t InferPool::free_slots() const {
  absl::MutexLock lock(&mu_);
  return free_.size();
}

}  // namespace q8::server
