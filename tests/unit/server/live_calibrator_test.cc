#include "server/live_calibrator.h"

#include <sched.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace q8::server {
namespace {

TEST(LiveCalibratorTest, RunsJobsOneAtATimeInOrderAtIdlePriorityOffTheCallersThread) {
  LiveCalibrator calibrator;
  std::vector<int> order;
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> policy{-1};
  std::thread::id worker;
  absl::Notification done;
  for (int i = 0; i < 5; ++i) {
    calibrator.Enqueue([&, i] {
      const int now = running.fetch_add(1) + 1;
      max_running.store(std::max(max_running.load(), now));
      order.push_back(i);
      policy.store(sched_getscheduler(0));
      worker = std::this_thread::get_id();
      running.fetch_sub(1);
      if (i == 4) done.Notify();
    });
  }
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(max_running.load(), 1);
  EXPECT_NE(worker, std::this_thread::get_id());
  EXPECT_EQ(policy.load(), SCHED_IDLE);
}

TEST(LiveCalibratorTest, ARequeuedJobWaitsForItsTimeWithoutHoldingUpOthers) {
  LiveCalibrator calibrator;
  std::vector<int> order;
  absl::Notification done;
  const absl::Time start = absl::Now();
  absl::Time delayed_ran;
  calibrator.Enqueue(
      [&] {
        delayed_ran = absl::Now();
        order.push_back(1);
        done.Notify();
      },
      start + absl::Milliseconds(300));
  calibrator.Enqueue([&] { order.push_back(2); });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
  EXPECT_GE(delayed_ran - start, absl::Milliseconds(300));
}

TEST(LiveCalibratorTest, StopDropsQueuedJobsAndRefusesNewOnes) {
  LiveCalibrator calibrator;
  absl::Notification started, release;
  std::atomic<int> ran{0};
  calibrator.Enqueue([&] {
    started.Notify();
    release.WaitForNotification();
    ran.fetch_add(1);
  });
  calibrator.Enqueue([&] { ran.fetch_add(1); });
  started.WaitForNotification();
  std::thread stopper([&] { calibrator.Stop(); });
  while (!calibrator.stopping()) std::this_thread::yield();
  release.Notify();
  stopper.join();
  calibrator.Enqueue([&] { ran.fetch_add(1); });
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace q8::server
