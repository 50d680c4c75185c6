// CompletionWait: a caller blocks until a completion running on another
// thread (an execution stream) has delivered its result. The blocking forms
// of the asynchronous request path (ModelExecutor::Execute,
// InferenceService::InferBlocking) share it.
//
// The flag is touched only under a mutex that outlives both sides (the
// owner's, not the waiter's), so the completing thread has let go of
// everything the waiter owns by the time Wait() returns and the waiter may
// destroy it at once.
#pragma once

#include "absl/synchronization/mutex.h"

namespace q8::server {

class CompletionWait {
 public:
  explicit CompletionWait(absl::Mutex* mu) : mu_(mu) {}
  CompletionWait(const CompletionWait&) = delete;
  CompletionWait& operator=(const CompletionWait&) = delete;

  // On the completing thread, after writing what the waiter will read.
  void Signal() {
    absl::MutexLock lock(mu_);
    done_ = true;
  }
  void Wait() {
    absl::MutexLock lock(mu_);
    mu_->Await(absl::Condition(&done_));
  }

 private:
  absl::Mutex* const mu_;
  bool done_ = false;
};

}  // namespace q8::server
