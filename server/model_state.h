// ModelState: the published state of one model version, as RepositoryIndex
// and health report it. The legal transitions are the only ones the registry
// performs (it checks them with IsLegalTransition):
//
//   (new) ─► kLoading ─► kReady ─► kUnloading ─► kUnavailable
//               │                                   │
//               └──────────► kUnavailable ◄─────────┘ (re)load ─► kLoading
//
// A reload of a version that is kReady keeps it kReady: the old model serves
// until the new one replaces it (no kLoading gap). kUnavailable carries a
// reason ("unloaded", or the load error).
#pragma once

#include "absl/strings/string_view.h"

namespace q8::server {

enum class ModelState { kLoading, kReady, kUnloading, kUnavailable };

// "LOADING", "READY", "UNLOADING", "UNAVAILABLE" (Triton's strings).
absl::string_view ToString(ModelState state);

bool IsLegalTransition(ModelState from, ModelState to);

}  // namespace q8::server
