// InferQueues: ModelInfer over gRPC's completion-queue API, driven by
// q8serve's own threads.
//
// Each thread owns one completion queue and keeps kRequestedPerQueue calls
// requested on it. When a call arrives alone, the same thread decodes it,
// runs a small model inline (ModelExecutor) and sends the response: no
// thread hand-off. When several are ready at once, all but the last go to
// the model's execution streams, so a loaded server computes on every CPU
// while this thread keeps reading; the stream thread that ran a call sends
// its response, and the completion comes back here only to recycle the slot.
//
// This replaced gRPC's callback API, whose two fixed "nexting" threads pass
// every event of a call from the thread that polled it to the one that runs
// it: ~3.3 context switches per request at concurrency 1, against ~1.1 here
// (BENCHMARKS.md, "ModelInfer on completion queues").
//
// Lifecycle: construct before grpc::ServerBuilder::BuildAndStart (it adds the
// queues), Start() after it, Shutdown() after grpc::Server::Shutdown has
// returned (the threads drain their queues and exit). The other RPCs stay on
// gRPC's synchronous pool.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "server/infer_slot.h"
#include "server/inference_service.h"

namespace q8::server {

class InferQueues {
 public:
  // Calls each queue keeps requested, so that a burst of arrivals is matched
  // without waiting for the thread to post the next request.
  static constexpr int kRequestedPerQueue = 8;
  // Most events one thread takes off its queue before acting on them.
  static constexpr size_t kMaxEventsPerRound = 32;

  // `threads` >= 1 queues and threads serve ModelInfer for `service`.
  InferQueues(InferenceService* service, InferPool* pool, grpc::ServerBuilder* builder, int threads);
  ~InferQueues();  // Shutdown()
  InferQueues(const InferQueues&) = delete;
  InferQueues& operator=(const InferQueues&) = delete;

  void Start();
  // Idempotent and safe from any thread; concurrent callers return when the
  // threads have exited.
  void Shutdown();

 private:
  void Request(grpc::ServerCompletionQueue* queue);
  void Run(grpc::ServerCompletionQueue* queue);

  InferenceService* const service_;
  InferPool* const pool_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> threads_;
  std::once_flag shut_down_;
};

}  // namespace q8::server
