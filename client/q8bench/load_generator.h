// LoadGenerator: sends the same pre-serialized ModelInfer request over one
// channel with gRPC's async API, driven by a single completion-queue thread.
//
// Why async with one thread: on a 2-core machine the client competes with the
// server for CPU. One thread that only issues calls and stamps completions
// (no per-call serialization: the request bytes are encoded once and sent
// through the generic stub; responses are not parsed) costs far less than a
// thread per in-flight request, and it can run open-loop schedules too.
//
// Closed loop: keeps `concurrency` calls in flight, issuing a new one as each
// completes. Open loop: issues calls at `rate` per second, evenly spaced or
// Poisson, whatever the server does (at most `max_outstanding` in flight;
// sends that fall behind schedule are counted as late).
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "client/q8bench/bench_options.h"
#include "client/q8bench/stats.h"

namespace q8::bench {

struct LoadLevel {
  LoadMode mode = LoadMode::kConcurrency;
  int64_t concurrency = 1;  // closed loop
  double rate = 0;          // open loop, requests/s
  Arrival arrival = Arrival::kConstant;
  int64_t max_outstanding = 1024;
  uint32_t seed = 1;
};

class LoadGenerator {
 public:
  // `requests`: serialized inference.ModelInferRequests (at least one), sent in turn.
  LoadGenerator(std::shared_ptr<grpc::Channel> channel, std::vector<std::string> requests, absl::Duration timeout);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;

  // Starts the issuing thread for one level (a previous level must be stopped).
  void Start(const LoadLevel& level);
  // Stops issuing, waits for the calls in flight to finish, joins the thread.
  void Stop();

  // Completions since the previous call (in completion order).
  std::vector<Completion> Drain();
  // Totals since construction.
  int64_t sent() const { return sent_.load(); }
  int64_t completed() const { return completed_.load(); }
  int64_t failed() const { return failed_.load(); }
  int64_t late() const { return late_.load(); }
  // "CODE: message" of the first failed call, empty if none.
  std::string first_error() const;

 private:
  struct Call;
  void Loop(LoadLevel level);
  void Issue(int64_t now_ns);
  void Complete(Call* call, bool ok);

  grpc::GenericStub stub_;
  std::vector<std::string> request_bytes_;  // back requests_' slices
  std::vector<grpc::ByteBuffer> requests_;
  size_t next_request_ = 0;  // loop thread only
  absl::Duration timeout_;
  grpc::CompletionQueue cq_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  int64_t in_flight_ = 0;  // loop thread only

  mutable std::mutex mu_;
  std::vector<Completion> pending_;  // guarded by mu_
  std::string first_error_;          // guarded by mu_

  std::atomic<int64_t> sent_{0}, completed_{0}, failed_{0}, late_{0};
};

int64_t NowNs();

}  // namespace q8::bench
