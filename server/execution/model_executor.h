// ModelExecutor: runs one model version's requests on its execution streams.
//
// Each stream is a thread with its own intra-op thread count (so two
// single-threaded streams on a 2-CPU pod do not fight over cores) and its own
// workspaces; all streams share the model's read-only weights. Requests wait
// in one FIFO queue; a free stream takes the oldest. With dynamic batching
// on, the stream first lets the oldest request wait up to
// max_queue_delay_us for others to join it (stopping early at max_batch_size
// or a preferred size), runs them as one batch and splits the outputs back.
// A request that runs alone runs straight on its own buffers (the request's
// bytes in, the response's bytes out): no copy.
//
// Submit() is asynchronous: the caller (a gRPC callback) gets its result
// through a completion called on whichever thread ran the request, and no
// thread waits for a stream. Execute() is the blocking form.
//
// At most `streams` executions run at once. For a small model (warm-up run
// under `inline_max_seconds`), a request that finds a stream free, nobody
// queued and (eager batching) nobody on the way runs on the submitting thread,
// set to the stream thread count: no hand-over to a stream thread and back,
// which costs two thread wake-ups (tens of microseconds on a loaded host, as
// much as a small model's whole compute). A large model always runs on its
// streams, so a gRPC thread is never busy computing for milliseconds while
// other calls wait to be read. Stream threads take whatever queues behind.
//
// Lifetime: shared by every copy of the ServedModel; the destructor finishes
// what is queued and joins the streams. A completion may drop the last
// reference (the model was unloaded meanwhile); the executor is then
// destroyed on a fresh thread, since a stream cannot join itself.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "engine/compiled_model.h"
#include "server/execution/execution_config.h"
#include "server/execution/execution_request.h"

namespace q8::server {

struct ExecutorOptions {
  StreamLayout layout;
  DynamicBatchingConfig batching;
  // Plans every stream builds (and runs once) before the model is READY.
  std::vector<int64_t> warmup_batch_sizes = {1};
  // Called on the stream thread after each execution with its batch size
  // (metrics); must be cheap and thread-safe.
  std::function<void(int64_t batch)> on_execution;
  // Requests may run on the submitting thread when the warm-up run at the
  // smallest warm-up batch took at most this long (0: never).
  double inline_max_seconds = 1e-3;
  // Auto layout: when set, Create first times the model on the calling thread
  // at one intra-op thread (its smallest warm-up batch, best of a few runs
  // after the plan is built) and starts the layout this returns for that
  // time instead of `layout`.
  std::function<StreamLayout(double run_seconds)> choose_layout;
  // Requests that may wait for a stream; one more completes at once with
  // RESOURCE_EXHAUSTED (naming the limit) so clients back off. 0: unbounded.
  int64_t max_queue_size = 0;
};

class ModelExecutor {
 public:
  // Starts the streams and waits until each has warmed up. A warm-up
  // failure (e.g. a batch size the model cannot take) is returned.
  static absl::StatusOr<std::shared_ptr<ModelExecutor>> Create(std::shared_ptr<const engine::CompiledModel> model,
                                                               ExecutorOptions options);
  ~ModelExecutor();
  ModelExecutor(const ModelExecutor&) = delete;
  ModelExecutor& operator=(const ModelExecutor&) = delete;

  // A request on its way to Execute() (being received and decoded): eager
  // dynamic batching waits for it. Obtain one as soon as a request for the
  // model arrives; Execute() consumes it, destruction (e.g. a decode error)
  // withdraws it.
  class Arrival {
   public:
    explicit Arrival(ModelExecutor* executor);
    Arrival(const Arrival&) = delete;
    Arrival& operator=(const Arrival&) = delete;
    ~Arrival();

   private:
    friend class ModelExecutor;
    ModelExecutor* executor_;
  };

  // Called exactly once with the request's outcome, on the thread that ran
  // it: the submitting one (before Submit returns) or a stream. It may
  // destroy what the request's views point into. Keep captures to one
  // pointer: std::function stores that without allocating.
  using Done = std::function<void(const absl::Status& status, const ExecutionTiming& timing)>;

  // Runs `request` now on this thread or queues it (see the header comment).
  // The tensors behind its views must stay valid until `done`. `arrival`
  // (optional) is the request's own, ended as it is queued. `may_run_inline`
  // false: queue it even if it could run here (the caller has more requests
  // in hand, which the streams can run meanwhile on other CPUs).
  void Submit(const ExecutionRequest& request, Done done, Arrival* arrival = nullptr, bool may_run_inline = true);

  // Blocks until the request ran (or its deadline passed before it could).
  absl::Status Execute(const ExecutionRequest& request, ExecutionTiming* timing, Arrival* arrival = nullptr);

  // Requests waiting for a stream (not those running).
  int64_t queue_depth() const;
  const StreamLayout& layout() const { return options_.layout; }
  const DynamicBatchingConfig& batching() const { return options_.batching; }
  int64_t max_queue_size() const { return options_.max_queue_size; }
  // Whether requests may run on the submitting thread (small model).
  bool runs_inline() const { return inline_; }
  // Whether choose_layout picked the layout, and the one-thread run time it
  // was given (0 otherwise).
  bool auto_layout() const { return auto_run_seconds_ > 0; }
  double auto_run_seconds() const { return auto_run_seconds_; }

 private:
  struct Pending;
  class Stream;
  // FIFO of queued requests linked through Pending::next: a steady request
  // stream allocates nothing (std::deque allocates and frees a block every
  // few dozen requests).
  class PendingFifo {
   public:
    bool empty() const { return head_ == nullptr; }
    size_t size() const { return size_; }
    Pending* front() const { return head_; }
    void push_back(Pending* p);
    void pop_front();

   private:
    Pending* head_ = nullptr;
    Pending* tail_ = nullptr;
    size_t size_ = 0;
  };

  ModelExecutor(std::shared_ptr<const engine::CompiledModel> model, ExecutorOptions options);
  // The shared_ptr deleter: on a stream thread, deletes on a fresh thread.
  static void Destroy(ModelExecutor* executor);
  void StreamMain(Stream* stream);
  // Builds and runs the plans for `sizes` on this thread (at its intra-op
  // thread count); returns the best of `timed_runs` runs at the smallest size
  // (after the run that built its plan).
  static absl::StatusOr<double> WarmUp(const engine::CompiledModel& model, std::vector<int64_t> sizes, int timed_runs);
  // With mu_ held: moves the next group of requests to run together into `group`.
  void TakeGroup(std::vector<Pending*>* group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IsPreferred(int64_t batch) const;
  void Enqueue(const ExecutionRequest& request, Done done, absl::Time enqueued) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs each finished request's completion (outside mu_) and recycles them.
  void Complete(std::vector<Pending*>& group);

  const std::shared_ptr<const engine::CompiledModel> model_;
  const ExecutorOptions options_;
  const bool can_merge_;         // batching on and the model has a batch dimension
  bool inline_ = false;          // set once by Create, before any Submit
  double auto_run_seconds_ = 0;  // set once by Create (auto layout)

  mutable absl::Mutex mu_;
  PendingFifo queue_ ABSL_GUARDED_BY(mu_);
  // Recycled queue entries: a steady request stream allocates none.
  std::vector<std::unique_ptr<Pending>> free_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int64_t> queued_{0};         // queue_.size(), readable without mu_
  int arriving_ ABSL_GUARDED_BY(mu_) = 0;  // live Arrivals
  int warming_ ABSL_GUARDED_BY(mu_) = 0;   // streams still warming up
  int running_ ABSL_GUARDED_BY(mu_) = 0;   // executions in progress (<= streams)
  absl::Status warmup_status_ ABSL_GUARDED_BY(mu_);
  double warm_run_seconds_ ABSL_GUARDED_BY(mu_) = 0;  // slowest stream's

  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<std::thread> threads_;
};

}  // namespace q8::server
