#include "server/serving_state.h"

#include "absl/time/clock.h"

namespace q8::server {

absl::Status ServingState::CheckCanChangeRepository() const {
  switch (phase()) {
    case ServingPhase::kStarting:
      return absl::UnavailableError("server is starting: repository changes are accepted once it is ready");
    case ServingPhase::kDraining:
    case ServingPhase::kStopping:
      return absl::UnavailableError("server is shutting down: repository changes are refused");
    case ServingPhase::kServing:
      break;
  }
  return absl::OkStatus();
}

bool ServingState::WaitIdle(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (in_flight_.load() > 0) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace q8::server
