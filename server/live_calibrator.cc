#include "server/live_calibrator.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>

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

void LiveCalibrator::Enqueue(std::function<void()> job) {
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  jobs_.push_back(std::move(job));
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] { Run(); });
  }
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
      mu_.Await(absl::Condition(
          +[](LiveCalibrator* self) ABSL_NO_THREAD_SAFETY_ANALYSIS { return self->stop_ || !self->jobs_.empty(); },
          this));
      if (stop_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace q8::server
