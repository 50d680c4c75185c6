#include "server/live_calibrator.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "core/logging.h"

namespace q8::server {
namespace {

// This thread (and threads it creates later) at the lowest priority.
void LowerThisThreadsPriority() {
  sched_param param{};
  param.sched_priority = 0;
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) != 0) {
    Q8_LOG(Warning, "live calibration: cannot set SCHED_IDLE; using nice 19 only");
  }
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  if (::setpriority(PRIO_PROCESS, tid, 19) != 0) Q8_LOG(Warning, "live calibration: cannot set nice 19");
}

}  // namespace

LiveCalibrator::~LiveCalibrator() { Stop(); }

void LiveCalibrator::Enqueue(std::function<void()> job, absl::Time not_before) {
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  jobs_.push_back({std::move(job), not_before});
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] { Run(); });
  }
}

bool LiveCalibrator::WaitUntilIdle(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](const LiveCalibrator* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                    return !self->running_ && self->jobs_.empty();
                                  },
                                  this),
                              timeout);
}

bool LiveCalibrator::stopping() const {
  absl::MutexLock lock(&mu_);
  return stop_;
}

void LiveCalibrator::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    jobs_.clear();
  }
  if (thread_.joinable()) thread_.join();
}

void LiveCalibrator::Run() {
  LowerThisThreadsPriority();
  for (;;) {
    std::function<void()> job;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        if (stop_) return;
        const absl::Time now = absl::Now();
        absl::Time next = absl::InfiniteFuture();
        auto due = jobs_.end();
        for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
          if (it->not_before <= now) {
            due = it;
            break;
          }
          next = std::min(next, it->not_before);
        }
        if (due != jobs_.end()) {
          job = std::move(due->run);
          jobs_.erase(due);
          running_ = true;
          break;
        }
        // Wakes for a new job, Stop(), or the earliest not-before time.
        std::pair<LiveCalibrator*, size_t> seen{this, jobs_.size()};
        mu_.AwaitWithDeadline(absl::Condition(
                                  +[](std::pair<LiveCalibrator*, size_t>* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                    return s->first->stop_ || s->first->jobs_.size() != s->second;
                                  },
                                  &seen),
                              next);
      }
    }
    job();
    absl::MutexLock lock(&mu_);
    running_ = false;
  }
}

}  // namespace q8::server
