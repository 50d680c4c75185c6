// LiveCalibrator: the server's one background worker for live calibration
// jobs (quantizing a version on its sampled requests, server/live_sampler.h).
// Jobs run one at a time, in arrival order, on a thread that runs at the
// lowest CPU priority (SCHED_IDLE and nice 19; the oneDNN/OpenMP threads it
// starts inherit both), so calibration only uses CPU time requests leave
// idle and never runs on a request's thread.
//
// A job that cannot go on yet (a publication waiting for another operation
// on its model) re-queues itself with a not-before time instead of sleeping,
// so the jobs of other models run meanwhile.
//
// Thread safety: Enqueue may be called from any thread. Destruction drops
// jobs not started and waits for the running one.
#pragma once

#include <deque>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace q8::server {

class LiveCalibrator {
 public:
  LiveCalibrator() = default;
  LiveCalibrator(const LiveCalibrator&) = delete;
  LiveCalibrator& operator=(const LiveCalibrator&) = delete;
  ~LiveCalibrator();

  // The worker thread starts with the first job. Jobs run in arrival order
  // among those whose `not_before` has passed.
  void Enqueue(std::function<void()> job, absl::Time not_before = absl::InfinitePast());
  // Waits until no job is queued or running; false on timeout (a job
  // queued with a later not-before time counts as queued).
  bool WaitUntilIdle(absl::Duration timeout) const;
  // Whether Stop() was called (a long job may check it between steps).
  bool stopping() const;
  // Drops queued jobs and waits for the running one.
  void Stop();

 private:
  void Run();

  mutable absl::Mutex mu_;
  struct Job {
    std::function<void()> run;
    absl::Time not_before;
  };
  std::deque<Job> jobs_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace q8::server
