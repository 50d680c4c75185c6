// LiveCalibrator: the server's one background worker for live calibration
// jobs (quantizing a version on its sampled requests, server/live_sampler.h).
// Jobs run one at a time, in arrival order, on a thread that runs at the
// lowest CPU priority (SCHED_IDLE and nice 19; the oneDNN/OpenMP threads it
// starts inherit both), so calibration only uses CPU time requests leave
// idle and never runs on a request's thread.
//
// Thread safety: Enqueue may be called from any thread. Destruction drops
// jobs not started and waits for the running one.
#pragma once

#include <deque>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace q8::server {

class LiveCalibrator {
 public:
  LiveCalibrator() = default;
  LiveCalibrator(const LiveCalibrator&) = delete;
  LiveCalibrator& operator=(const LiveCalibrator&) = delete;
  ~LiveCalibrator();

  // The worker thread starts with the first job.
  void Enqueue(std::function<void()> job);
  // Whether Stop() was called (a long job may check it between steps).
  bool stopping() const;
  // Drops queued jobs and waits for the running one.
  void Stop();

 private:
  void Run();

  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace q8::server
