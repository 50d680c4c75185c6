#include "server/model_state.h"

namespace q8::server {

absl::string_view ToString(ModelState state) {
  switch (state) {
    case ModelState::kLoading:
      return "LOADING";
    case ModelState::kReady:
      return "READY";
    case ModelState::kUnloading:
      return "UNLOADING";
    case ModelState::kUnavailable:
      return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

bool IsLegalTransition(ModelState from, ModelState to) {
  using S = ModelState;
  switch (from) {
    case S::kLoading:
      return to == S::kReady || to == S::kUnavailable;
    case S::kReady:
      // kReady -> kReady is a hot swap of the compiled model.
      return to == S::kReady || to == S::kUnloading;
    case S::kUnloading:
      return to == S::kUnavailable;
    case S::kUnavailable:
      return to == S::kLoading;
  }
  return false;
}

}  // namespace q8::server
