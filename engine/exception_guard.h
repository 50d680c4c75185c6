// The engine's public entry points (Compile, Quantize, LoadQuantized, Run)
// run their bodies through GuardExceptions, so an exception from below (an
// allocation that fails, a oneDNN error, a library throwing) leaves the
// engine as a precise absl::Status and never reaches the server as a crash,
// an RPC ending UNKNOWN or a version stuck LOADING.
#pragma once

#include <exception>
#include <new>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace q8::engine {

// Returns fn(), or RESOURCE_EXHAUSTED ("out of memory while <doing>") for
// std::bad_alloc and INTERNAL ("... while <doing>: <what()>") for any other
// exception. `doing` says what was being done, e.g. "compiling the model".
template <typename Fn>
auto GuardExceptions(absl::string_view doing, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat("out of memory while ", doing));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("unexpected error while ", doing, ": ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat("unexpected non-standard exception while ", doing));
  }
}

}  // namespace q8::engine
