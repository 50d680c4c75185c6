// Owns the execution streams: queueing, grouping for dynamic batching,
// warm-up and shutdown.
#include "server/execution/model_executor.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/logging.h"
#include "core/shape.h"
#include "engine/threading.h"
#include "server/execution/batch_assembler.h"
#include "server/execution/completion_wait.h"

namespace q8::server {
namespace {

double SecondsBetween(absl::Time a, absl::Time b) { return absl::ToDoubleSeconds(b - a); }

}  // namespace

// A queued request; owned by the executor (queue_, then the stream running
// it, then free_ for reuse).
struct ModelExecutor::Pending {
  ExecutionRequest request;
  Done done;
  absl::Time enqueued;
  absl::Status status;
  ExecutionTiming timing;
  Pending* next = nullptr;  // in queue_
};

void ModelExecutor::PendingFifo::push_back(Pending* p) {
  p->next = nullptr;
  if (tail_ == nullptr) {
    head_ = p;
  } else {
    tail_->next = p;
  }
  tail_ = p;
  ++size_;
}

void ModelExecutor::PendingFifo::pop_front() {
  head_ = head_->next;
  if (head_ == nullptr) tail_ = nullptr;
  --size_;
}

// Per-stream state, touched only by that stream's thread.
class ModelExecutor::Stream {
 public:
  explicit Stream(const engine::CompiledModel& model) : assembler(model) {}
  BatchAssembler assembler;
  std::vector<Pending*> group;  // reused: no allocation per execution
  std::vector<const ExecutionRequest*> parts;
};

ModelExecutor::ModelExecutor(std::shared_ptr<const engine::CompiledModel> model, ExecutorOptions options)
    : model_(std::move(model)),
      options_(std::move(options)),
      // Merging needs a dynamic batch axis; a model whose INT64 inputs set
      // shapes (can_warm_up() false) takes them per request, never merged.
      can_merge_(options_.batching.enabled && !model_->inputs().empty() && !model_->inputs()[0].dims.empty() &&
                 model_->inputs()[0].dims[0] == core::kDynamicDim && model_->max_batch_size() > 1 &&
                 model_->can_warm_up()) {}

absl::StatusOr<std::shared_ptr<ModelExecutor>> ModelExecutor::Create(std::shared_ptr<const engine::CompiledModel> model,
                                                                     ExecutorOptions options) {
  if (model == nullptr) return absl::InternalError("executor without a model");
  double auto_run_seconds = 0;
  if (options.choose_layout) {
    engine::ScopedIntraOpThreads one(1);
    const std::vector<int64_t>& sizes = options.warmup_batch_sizes;
    const std::vector<int64_t> smallest = {sizes.empty() ? 1 : *std::min_element(sizes.begin(), sizes.end())};
    absl::StatusOr<double> run = WarmUp(*model, smallest, /*timed_runs=*/3);
    if (!run.ok()) return run.status();
    auto_run_seconds = std::max(*run, 1e-9);
    options.layout = options.choose_layout(auto_run_seconds);
  }
  options.layout.streams = std::max(1, options.layout.streams);
  options.layout.threads_per_stream = std::max(1, options.layout.threads_per_stream);
  std::shared_ptr<ModelExecutor> executor(new ModelExecutor(std::move(model), std::move(options)), &Destroy);
  ModelExecutor& e = *executor;
  e.auto_run_seconds_ = auto_run_seconds;
  {
    absl::MutexLock lock(&e.mu_);
    e.warming_ = e.options_.layout.streams;
  }
  for (int i = 0; i < e.options_.layout.streams; ++i) {
    e.streams_.push_back(std::make_unique<Stream>(*e.model_));
    e.threads_.emplace_back(&ModelExecutor::StreamMain, &e, e.streams_.back().get());
  }
  absl::MutexLock lock(&e.mu_);
  e.mu_.Await(absl::Condition(
      +[](int* warming) { return *warming == 0; }, &e.warming_));
  if (!e.warmup_status_.ok()) return e.warmup_status_;  // the destructor joins the streams
  e.inline_ = e.warm_run_seconds_ <= e.options_.inline_max_seconds;
  return executor;
}

void ModelExecutor::Destroy(ModelExecutor* executor) {
  const std::thread::id self = std::this_thread::get_id();
  for (const std::thread& t : executor->threads_) {
    if (t.get_id() == self) {
      // A completion on this stream dropped the last reference: the
      // destructor joins the streams, so it must run elsewhere. This
      // stream's loop goes on safely until that join: the object lives
      // until the destructor returns.
      std::thread([executor] { delete executor; }).detach();
      return;
    }
  }
  delete executor;
}

ModelExecutor::~ModelExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

int64_t ModelExecutor::queue_depth() const { return queued_.load(std::memory_order_relaxed); }

ModelExecutor::Arrival::Arrival(ModelExecutor* executor) : executor_(executor) {
  if (executor_ == nullptr || !executor_->can_merge_) {
    executor_ = nullptr;  // only batching waits for arrivals
    return;
  }
  absl::MutexLock lock(&executor_->mu_);
  ++executor_->arriving_;
}

ModelExecutor::Arrival::~Arrival() {
  if (executor_ == nullptr) return;
  absl::MutexLock lock(&executor_->mu_);
  --executor_->arriving_;
}

void ModelExecutor::Submit(const ExecutionRequest& request, Done done, Arrival* arrival, bool may_run_inline) {
  const absl::Time enqueued = absl::Now();
  bool refused = false;
  bool full = false;
  {
    absl::MutexLock lock(&mu_);
    if (arrival != nullptr && arrival->executor_ == this) {
      --arriving_;  // under the same lock as the enqueue below: no gap a stream could see
      arrival->executor_ = nullptr;
    }
    refused = stopping_;
    // Eager batching with nobody queued or on the way would run this request
    // alone at once anyway: same as no batching.
    const bool could_merge = can_merge_ && (!options_.batching.eager || arriving_ > 0);
    if (!refused &&
        (!inline_ || !may_run_inline || could_merge || !queue_.empty() || running_ >= options_.layout.streams)) {
      if (options_.max_queue_size > 0 && static_cast<int64_t>(queue_.size()) >= options_.max_queue_size) {
        full = true;
      } else {
        Enqueue(request, std::move(done), enqueued);
        return;
      }
    }
    if (!refused && !full) ++running_;
  }
  if (full) {
    done(absl::ResourceExhaustedError(
             absl::StrCat("execution queue full: ", options_.max_queue_size,
                          " requests already wait for a stream (max_queue_size=", options_.max_queue_size,
                          ", from config.json execution.max_queue_size or --max_queue_size); retry with backoff")),
         ExecutionTiming{});
    return;
  }
  if (refused) {
    done(absl::UnavailableError("the model version is being unloaded"), ExecutionTiming{});
    return;
  }
  // A stream is free: run here. The thread count is this thread's from now
  // on, which is harmless: only executions run oneDNN on request threads.
  if (engine::IntraOpThreads() != options_.layout.threads_per_stream) {
    engine::SetIntraOpThreads(options_.layout.threads_per_stream);
  }
  const absl::Time start = absl::Now();
  absl::Status status = request.deadline < std::chrono::system_clock::now()
                            ? absl::DeadlineExceededError("deadline expired before the model ran")
                            : model_->Run(request.inputs, request.outputs);
  const absl::Time end = absl::Now();
  if (status.ok() && options_.on_execution) options_.on_execution(request.batch);
  {
    absl::MutexLock lock(&mu_);
    --running_;
  }
  done(status,
       ExecutionTiming{SecondsBetween(enqueued, start), SecondsBetween(start, end), request.batch, status.ok()});
}

void ModelExecutor::Enqueue(const ExecutionRequest& request, Done done, absl::Time enqueued) {
  Pending* p;
  if (free_.empty()) {
    p = new Pending;
  } else {
    p = free_.back().release();
    free_.pop_back();
  }
  p->request = request;
  p->done = std::move(done);
  p->enqueued = enqueued;
  p->status = absl::OkStatus();
  p->timing = ExecutionTiming{};
  queue_.push_back(p);
  queued_.store(static_cast<int64_t>(queue_.size()), std::memory_order_relaxed);
}

absl::Status ModelExecutor::Execute(const ExecutionRequest& request, ExecutionTiming* timing, Arrival* arrival) {
  struct Result {
    absl::Status status;
    ExecutionTiming* timing;
    CompletionWait wait;
  } result{absl::OkStatus(), timing, CompletionWait(&mu_)};
  Submit(
      request,
      [r = &result](const absl::Status& status, const ExecutionTiming& t) {
        r->status = status;
        if (r->timing != nullptr) *r->timing = t;
        r->wait.Signal();
      },
      arrival);
  result.wait.Wait();
  return result.status;
}

bool ModelExecutor::IsPreferred(int64_t batch) const {
  const auto& sizes = options_.batching.preferred_batch_sizes;
  return std::find(sizes.begin(), sizes.end(), batch) != sizes.end();
}

void ModelExecutor::TakeGroup(std::vector<Pending*>* group) {
  group->push_back(queue_.front());
  queue_.pop_front();
  if (!can_merge_) return;
  const int64_t max_batch = model_->max_batch_size();
  int64_t total = group->front()->request.batch;
  const absl::Time deadline = group->front()->enqueued + absl::Microseconds(options_.batching.max_queue_delay_us);
  const bool eager = options_.batching.eager;
  auto wake = [this, eager]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || stopping_ || (eager && arriving_ == 0);
  };
  while (total < max_batch && !IsPreferred(total)) {
    // FIFO: requests join in arrival order; one that does not fit ends the group.
    while (!queue_.empty() && total + queue_.front()->request.batch <= max_batch &&
           BatchAssembler::CanMerge(group->front()->request, queue_.front()->request)) {
      total += queue_.front()->request.batch;
      group->push_back(queue_.front());
      queue_.pop_front();
      if (IsPreferred(total)) return;
    }
    if (!queue_.empty() || stopping_) return;
    if (eager && arriving_ == 0) return;  // nobody on the way: run what we have
    if (!mu_.AwaitWithDeadline(absl::Condition(&wake), deadline)) return;
  }
}

absl::StatusOr<double> ModelExecutor::WarmUp(const engine::CompiledModel& model, std::vector<int64_t> sizes,
                                             int timed_runs) {
  const bool batchable =
      model.inputs().empty() || model.inputs()[0].dims.empty() || model.inputs()[0].dims[0] == core::kDynamicDim;
  if (!batchable) sizes = {1};
  if (sizes.empty()) sizes = {1};        // the inline rule needs one timed run
  if (!model.can_warm_up()) return 1.0;  // planned per request's values; never inline
  const int64_t smallest = *std::min_element(sizes.begin(), sizes.end());
  double best_run = 0;
  for (int64_t b : sizes) {
    // The first shape set is the example one (timed); further sets are
    // shapes the model serves from their own plans (sequence buckets).
    const std::vector<std::vector<core::Dims>> sets = model.WarmUpInputDims(b);
    for (size_t set = 0; set < sets.size(); ++set) {
      std::vector<core::Tensor> inputs;
      std::vector<core::TensorView> views;
      const std::vector<core::Dims>& dims = sets[set];
      for (size_t i = 0; i < dims.size(); ++i) {
        inputs.emplace_back(model.inputs()[i].dtype, dims[i]);
        views.push_back(inputs.back().view());
      }
      // The first run builds the plan; the next ones show what a request costs.
      const bool timed = b == smallest && set == 0;
      const int runs = timed ? 1 + std::max(1, timed_runs) : 1;
      for (int run = 0; run < runs; ++run) {
        const absl::Time start = absl::Now();
        auto out = model.Run(views);
        if (!out.ok()) {
          const std::string shape = set == 0 ? "" : absl::StrCat(" shape ", core::DimsToString(dims.front()));
          return absl::Status(out.status().code(),
                              absl::StrCat("warm-up at batch ", b, shape, ": ", out.status().message()));
        }
        const double seconds = SecondsBetween(start, absl::Now());
        if (timed && run > 0) best_run = run == 1 ? seconds : std::min(best_run, seconds);
      }
    }
  }
  return best_run;
}

void ModelExecutor::StreamMain(Stream* stream) {
  engine::SetIntraOpThreads(options_.layout.threads_per_stream);
  // Warm-up on this thread, so the plans are the ones built for its thread
  // count, and its workspaces exist before the first request.
  {
    absl::StatusOr<double> warm = WarmUp(*model_, options_.warmup_batch_sizes, /*timed_runs=*/1);
    absl::MutexLock lock(&mu_);
    if (!warm.ok() && warmup_status_.ok()) warmup_status_ = warm.status();
    if (warm.ok()) warm_run_seconds_ = std::max(warm_run_seconds_, *warm);
    --warming_;
  }

  std::vector<Pending*>& group = stream->group;
  std::vector<const ExecutionRequest*>& parts = stream->parts;
  while (true) {
    group.clear();
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return (!queue_.empty() && running_ < options_.layout.streams) || (stopping_ && queue_.empty());
      };
      mu_.Await(absl::Condition(&has_work));
      if (queue_.empty()) return;  // stopping, and nothing left to finish
      ++running_;
      TakeGroup(&group);
      queued_.store(static_cast<int64_t>(queue_.size()), std::memory_order_relaxed);
    }
    const absl::Time start = absl::Now();
    const auto wall_now = std::chrono::system_clock::now();
    // Requests whose deadline passed while queued do not run.
    parts.clear();
    int64_t total = 0;
    for (Pending* p : group) {
      if (p->request.deadline < wall_now) {
        p->status = absl::DeadlineExceededError("deadline expired while queued for execution");
        continue;
      }
      parts.push_back(&p->request);
      total += p->request.batch;
    }
    absl::Status status = absl::OkStatus();
    if (parts.size() == 1) {
      status = model_->Run(parts[0]->inputs, parts[0]->outputs);
    } else if (parts.size() > 1) {
      status = stream->assembler.Gather(parts);
      if (status.ok()) status = model_->Run(stream->assembler.inputs(), stream->assembler.outputs());
      if (status.ok()) stream->assembler.Scatter(parts);
    }
    const absl::Time end = absl::Now();
    if (!parts.empty() && options_.on_execution) options_.on_execution(total);
    {
      absl::MutexLock lock(&mu_);
      --running_;
    }
    bool first = !parts.empty();
    for (Pending* p : group) {
      if (p->status.ok()) p->status = status;
      p->timing = {SecondsBetween(p->enqueued, start), SecondsBetween(start, end), total, first && p->status.ok()};
      first = first && !p->status.ok();
    }
    Complete(group);
  }
}

void ModelExecutor::Complete(std::vector<Pending*>& group) {
  for (Pending* p : group) {
    Done done = std::move(p->done);
    p->done = nullptr;
    done(p->status, p->timing);  // may drop the last reference: see Destroy()
  }
  absl::MutexLock lock(&mu_);
  for (Pending* p : group) free_.emplace_back(p);
}

}  // namespace q8::server
