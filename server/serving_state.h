// ServingState: the server's lifecycle phase and its count of running calls,
// shared by every service (OIP InferenceService and q8serve ModelService).
//
// Phases: while kStarting (startup loads running) inference and repository
// changes are UNAVAILABLE; while kDraining inference keeps working (that is
// the point of draining) but loads/unloads/uploads are UNAVAILABLE; while
// kStopping everything but health/liveness is UNAVAILABLE and WaitIdle() lets
// the server stop as soon as the calls already running have finished.
//
// Thread safety: all methods are thread-safe (atomics).
#pragma once

#include <atomic>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace q8::server {

// kStopping: after the drain, before the grpc::Server stops; new calls are
// refused so that in-flight ones can be counted down to zero.
enum class ServingPhase { kStarting, kServing, kDraining, kStopping };

class ServingState {
 public:
  void SetPhase(ServingPhase phase) { phase_.store(phase); }
  // kStarting -> kServing unless a drain began meanwhile; true if it moved.
  bool FinishStartup() {
    ServingPhase expected = ServingPhase::kStarting;
    return phase_.compare_exchange_strong(expected, ServingPhase::kServing);
  }
  ServingPhase phase() const { return phase_.load(); }

  // OK while kServing; UNAVAILABLE with the reason otherwise.
  absl::Status CheckCanChangeRepository() const;

  // Waits until no counted call is running, or `timeout`. True if idle.
  bool WaitIdle(absl::Duration timeout) const;

  // Counts a call as in flight for WaitIdle() while it lives.
  class Call {
   public:
    explicit Call(ServingState* state) : state_(state) { state_->in_flight_.fetch_add(1); }
    ~Call() { state_->in_flight_.fetch_sub(1); }
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

   private:
    ServingState* state_;
  };

 private:
  std::atomic<ServingPhase> phase_{ServingPhase::kStarting};
  std::atomic<int> in_flight_{0};
};

}  // namespace q8::server
