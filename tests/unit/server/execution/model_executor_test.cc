// ModelExecutor on the real Fashion CNN (oneDNN underneath): merged
// executions give each request what it would get alone, groups respect
// max_batch_size and preferred sizes, deadlines, streams run concurrently on
// their own thread counts, warm-up failures surface.
#include "server/execution/model_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "core/npy.h"
#include "engine/compiler.h"
#include "engine/threading.h"
#include "tests/testing/onnx_builder.h"

namespace q8::server {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ModelExecutorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto model = engine::Compile(ReadFile(std::string(Q8_TEST_DATA_DIR) + "/fashion_cnn.onnx"),
                                 {.max_batch_size = 8, .warmup_batch_sizes = {1}});
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = new std::shared_ptr<const engine::CompiledModel>(*model);
    auto images = core::ReadNpyFile(std::string(Q8_TEST_DATA_DIR) + "/fashion_test_images.npy");
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = new core::Tensor(std::move(*images));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete images_;
  }

  // One request over images [first, first + batch) with its own output buffer.
  struct Request {
    core::TensorView input;
    core::Tensor output;
    core::MutableTensorView output_view;
    ExecutionRequest request;
  };
  static std::unique_ptr<Request> MakeRequest(int64_t first, int64_t batch) {
    auto r = std::make_unique<Request>();
    core::Dims dims = images_->dims();
    const int64_t row = images_->num_elements() / dims[0];
    dims[0] = batch;
    r->input = {core::DataType::kFloat32, dims, static_cast<const float*>(images_->data()) + first * row};
    r->output = core::Tensor(core::DataType::kFloat32, model().OutputDims(batch)[0]);
    r->output_view = r->output.mutable_view();
    r->request.inputs = absl::MakeConstSpan(&r->input, 1);
    r->request.outputs = absl::MakeConstSpan(&r->output_view, 1);
    r->request.batch = batch;
    return r;
  }
  // What the model gives for the same rows run on their own.
  static core::Tensor Alone(int64_t first, int64_t batch) {
    auto r = MakeRequest(first, batch);
    auto out = model().Run(absl::MakeConstSpan(&r->input, 1));
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? std::move((*out)[0]) : core::Tensor();
  }
  static void ExpectClose(const core::Tensor& got, const core::Tensor& want) {
    ASSERT_EQ(got.dims(), want.dims());
    // Different batch sizes may take differently blocked fp32 kernels:
    // allow rounding-level differences of the logits (|logit| ~ 10).
    for (int64_t i = 0; i < got.num_elements(); ++i) {
      EXPECT_NEAR(got.span<float>()[i], want.span<float>()[i], 1e-4) << "element " << i;
    }
  }
  static const engine::CompiledModel& model() { return **model_; }
  static std::shared_ptr<const engine::CompiledModel> shared_model() { return *model_; }

  static std::shared_ptr<const engine::CompiledModel>* model_;
  static core::Tensor* images_;
};
std::shared_ptr<const engine::CompiledModel>* ModelExecutorTest::model_ = nullptr;
core::Tensor* ModelExecutorTest::images_ = nullptr;

ExecutorOptions Options(int streams, int threads, bool batching, int64_t delay_us = 0,
                        std::vector<int64_t> preferred = {}, bool eager = true) {
  ExecutorOptions o;
  o.layout = {streams, threads};
  o.batching.enabled = batching;
  o.batching.max_queue_delay_us = delay_us;
  o.batching.preferred_batch_sizes = std::move(preferred);
  o.batching.eager = eager;
  return o;
}

TEST_F(ModelExecutorTest, SingleRequestMatchesDirectRun) {
  auto executor = ModelExecutor::Create(shared_model(), Options(1, 1, false));
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto r = MakeRequest(3, 2);
  ExecutionTiming timing;
  ASSERT_TRUE((*executor)->Execute(r->request, &timing).ok());
  EXPECT_EQ(timing.executed_batch, 2);
  EXPECT_TRUE(timing.first_in_execution);
  EXPECT_GE(timing.queue_seconds, 0);
  EXPECT_GT(timing.compute_seconds, 0);
  ExpectClose(r->output, Alone(3, 2));
}

// Concurrent requests wait for each other (long delay, preferred size = all
// of them; all four announced as arriving before any is queued), run as one
// batch of 1+2+1+3 = 7, and each gets its own rows.
TEST_F(ModelExecutorTest, MergedRequestsEachGetTheirUnbatchedResult) {
  const std::vector<std::pair<int64_t, int64_t>> parts = {{0, 1}, {10, 2}, {20, 1}, {30, 3}};
  std::atomic<int> executions{0};
  std::atomic<int64_t> executed{0};
  ExecutorOptions o = Options(1, 1, true, /*delay_us=*/5'000'000, /*preferred=*/{7});
  o.on_execution = [&](int64_t batch) {
    executions.fetch_add(1);
    executed.store(batch);
  };
  auto executor = ModelExecutor::Create(shared_model(), o);
  ASSERT_TRUE(executor.ok()) << executor.status();
  std::vector<std::unique_ptr<Request>> requests;
  std::vector<ExecutionTiming> timings(parts.size());
  std::vector<absl::Status> statuses(parts.size());
  for (auto [first, batch] : parts) requests.push_back(MakeRequest(first, batch));
  std::vector<std::unique_ptr<ModelExecutor::Arrival>> arrivals;
  for (size_t i = 0; i < parts.size(); ++i)
    arrivals.push_back(std::make_unique<ModelExecutor::Arrival>(executor->get()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < parts.size(); ++i) {
    threads.emplace_back(
        [&, i] { statuses[i] = (*executor)->Execute(requests[i]->request, &timings[i], arrivals[i].get()); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(executions.load(), 1);
  EXPECT_EQ(executed.load(), 7);
  int firsts = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i];
    EXPECT_EQ(timings[i].executed_batch, 7);
    firsts += timings[i].first_in_execution;
    ExpectClose(requests[i]->output, Alone(parts[i].first, parts[i].second));
  }
  EXPECT_EQ(firsts, 1);
}

// Eager (default): with nobody on the way, a lone request runs at once.
TEST_F(ModelExecutorTest, EagerLoneRequestDoesNotWait) {
  auto executor = ModelExecutor::Create(shared_model(), Options(1, 1, true, /*delay_us=*/2'000'000));
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto r = MakeRequest(5, 1);
  ExecutionTiming timing;
  ASSERT_TRUE((*executor)->Execute(r->request, &timing).ok());
  EXPECT_LT(timing.queue_seconds, 1.0);
  ExpectClose(r->output, Alone(5, 1));
}

// Eager, but another request is announced and never comes: the delay bounds the wait.
TEST_F(ModelExecutorTest, EagerWaitForAnArrivalIsBoundedByTheDelay) {
  auto executor = ModelExecutor::Create(shared_model(), Options(1, 1, true, /*delay_us=*/50'000));
  ASSERT_TRUE(executor.ok()) << executor.status();
  ModelExecutor::Arrival never_comes(executor->get());
  auto r = MakeRequest(5, 1);
  ExecutionTiming timing;
  ASSERT_TRUE((*executor)->Execute(r->request, &timing).ok());
  EXPECT_GE(timing.queue_seconds, 0.045);
  EXPECT_EQ(timing.executed_batch, 1);
}

// Not eager (Triton's rule): a lone request runs once the delay has passed.
TEST_F(ModelExecutorTest, NonEagerLoneRequestWaitsOutTheDelay) {
  auto executor = ModelExecutor::Create(shared_model(), Options(1, 1, true, /*delay_us=*/50'000, {}, /*eager=*/false));
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto r = MakeRequest(5, 1);
  ExecutionTiming timing;
  ASSERT_TRUE((*executor)->Execute(r->request, &timing).ok());
  EXPECT_GE(timing.queue_seconds, 0.045);
  EXPECT_EQ(timing.executed_batch, 1);
  ExpectClose(r->output, Alone(5, 1));
}

// Groups never exceed max_batch_size (8): 5 + 5 cannot merge.
TEST_F(ModelExecutorTest, GroupsRespectMaxBatchSize) {
  std::atomic<int> executions{0};
  ExecutorOptions o = Options(1, 1, true, /*delay_us=*/200'000);
  o.on_execution = [&](int64_t batch) {
    EXPECT_LE(batch, 8);
    executions.fetch_add(1);
  };
  auto executor = ModelExecutor::Create(shared_model(), o);
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto a = MakeRequest(0, 5), b = MakeRequest(40, 5);
  ModelExecutor::Arrival arrival_a(executor->get()), arrival_b(executor->get());
  absl::Status sa, sb;
  std::thread ta([&] { sa = (*executor)->Execute(a->request, nullptr, &arrival_a); });
  std::thread tb([&] { sb = (*executor)->Execute(b->request, nullptr, &arrival_b); });
  ta.join();
  tb.join();
  ASSERT_TRUE(sa.ok()) << sa;
  ASSERT_TRUE(sb.ok()) << sb;
  EXPECT_EQ(executions.load(), 2);
  ExpectClose(a->output, Alone(0, 5));
  ExpectClose(b->output, Alone(40, 5));
}

TEST_F(ModelExecutorTest, ExpiredDeadlineIsNotRunAndOthersAreUnaffected) {
  auto executor =
      ModelExecutor::Create(shared_model(), Options(1, 1, true, /*delay_us=*/100'000, {2}, /*eager=*/false));
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto late = MakeRequest(0, 1), fine = MakeRequest(1, 1);
  late->request.deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(20);
  absl::Status s_late, s_fine;
  std::thread t1([&] { s_late = (*executor)->Execute(late->request, nullptr); });
  t1.join();  // waited out the 100 ms delay alone, past its 20 ms deadline
  EXPECT_EQ(s_late.code(), absl::StatusCode::kDeadlineExceeded) << s_late;
  std::thread t2([&] { s_fine = (*executor)->Execute(fine->request, nullptr); });
  t2.join();
  ASSERT_TRUE(s_fine.ok()) << s_fine;
  ExpectClose(fine->output, Alone(1, 1));
}

// Two streams run two executions at the same time, each on its own
// intra-op thread count: each execution's callback waits for the other, which
// would time out with one stream.
TEST_F(ModelExecutorTest, StreamsRunConcurrentlyWithTheirThreadCount) {
  std::atomic<int> arrived{0};
  std::atomic<int> saw_both{0};
  std::atomic<int> threads_seen{0};
  ExecutorOptions o = Options(2, 1, false);
  o.on_execution = [&](int64_t) {
    threads_seen.store(engine::IntraOpThreads());
    arrived.fetch_add(1);
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (arrived.load() < 2 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
    if (arrived.load() >= 2) saw_both.fetch_add(1);
  };
  auto executor = ModelExecutor::Create(shared_model(), o);
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto a = MakeRequest(0, 1), b = MakeRequest(1, 1);
  std::thread ta([&] { EXPECT_TRUE((*executor)->Execute(a->request, nullptr).ok()); });
  std::thread tb([&] { EXPECT_TRUE((*executor)->Execute(b->request, nullptr).ok()); });
  ta.join();
  tb.join();
  EXPECT_EQ(saw_both.load(), 2);
  EXPECT_EQ(threads_seen.load(), 1);
}

// Submit never blocks: one thread queues eight requests (not eager, preferred
// size 8, a delay far beyond the test), which run as one execution of 8 on
// the stream; each completion sees its own rows.
TEST_F(ModelExecutorTest, SubmitQueuesWithoutBlockingAndCompletesOnTheStream) {
  std::atomic<int> executions{0};
  ExecutorOptions o = Options(1, 1, true, /*delay_us=*/60'000'000, /*preferred=*/{8}, /*eager=*/false);
  o.on_execution = [&](int64_t) { executions.fetch_add(1); };
  auto executor = ModelExecutor::Create(shared_model(), o);
  ASSERT_TRUE(executor.ok()) << executor.status();
  struct Done {
    absl::Mutex mu;
    int count = 0;
    std::vector<std::thread::id> threads;
    std::vector<int64_t> executed;
  } done;
  std::vector<std::unique_ptr<Request>> requests;
  for (int i = 0; i < 8; ++i) requests.push_back(MakeRequest(10 * i, 1));
  for (const auto& r : requests) {
    (*executor)->Submit(r->request, [d = &done](const absl::Status& status, const ExecutionTiming& timing) {
      EXPECT_TRUE(status.ok()) << status;
      absl::MutexLock lock(&d->mu);
      ++d->count;
      d->threads.push_back(std::this_thread::get_id());
      d->executed.push_back(timing.executed_batch);
    });
  }
  {
    absl::MutexLock lock(&done.mu);
    ASSERT_TRUE(done.mu.AwaitWithTimeout(absl::Condition(
                                             +[](int* count) { return *count == 8; }, &done.count),
                                         absl::Seconds(30)));
    for (const std::thread::id& t : done.threads) EXPECT_NE(t, std::this_thread::get_id());
    for (int64_t b : done.executed) EXPECT_EQ(b, 8);
  }
  EXPECT_EQ(executions.load(), 1);
  for (int i = 0; i < 8; ++i) ExpectClose(requests[i]->output, Alone(10 * i, 1));
}

// A small model runs on the submitting thread when a stream is free; with
// inline execution off (as for a model whose run exceeds the limit), or when
// the submitter asks (it holds more requests: server/infer_queues.h), on a
// stream.
TEST_F(ModelExecutorTest, SmallModelsRunInlineLargeOnesOnTheirStreams) {
  for (auto [limit, may_run_inline] : {std::pair{1.0, true}, std::pair{0.0, true}, std::pair{1.0, false}}) {
    ExecutorOptions o = Options(1, 1, false);
    o.inline_max_seconds = limit;
    auto executor = ModelExecutor::Create(shared_model(), o);
    ASSERT_TRUE(executor.ok()) << executor.status();
    EXPECT_EQ((*executor)->runs_inline(), limit > 0);
    auto r = MakeRequest(4, 1);
    std::thread::id ran_on;
    absl::Notification finished;
    struct Seen {
      std::thread::id* ran_on;
      absl::Notification* finished;
    } seen{&ran_on, &finished};
    (*executor)->Submit(
        r->request,
        [s = &seen](const absl::Status& status, const ExecutionTiming&) {
          EXPECT_TRUE(status.ok()) << status;
          *s->ran_on = std::this_thread::get_id();
          s->finished->Notify();
        },
        nullptr, may_run_inline);
    ASSERT_TRUE(finished.WaitForNotificationWithTimeout(absl::Seconds(30)));
    EXPECT_EQ(ran_on == std::this_thread::get_id(), limit > 0 && may_run_inline)
        << "inline limit " << limit << ", may_run_inline " << may_run_inline;
    ExpectClose(r->output, Alone(4, 1));
  }
}

int ProcessThreads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// A thread that ran a multi-threaded scope (a model load) keeps no OpenMP
// worker threads once the scope ends, so only streams hold teams.
TEST_F(ModelExecutorTest, IntraOpScopeLeavesNoTeamBehind) {
  const int before = ProcessThreads();
  int during = 0;
  int after = 0;
  std::thread loader([&] {
    {
      engine::ScopedIntraOpThreads two(2);
      auto r = MakeRequest(0, 8);
      auto out = model().Run(absl::MakeConstSpan(&r->input, 1));  // parallel regions at 2 threads
      ASSERT_TRUE(out.ok()) << out.status();
      during = ProcessThreads();
    }
    after = ProcessThreads();
  });
  loader.join();
  EXPECT_EQ(during, before + 2);  // the loader and its OpenMP worker
  EXPECT_EQ(after, before + 1);   // the loader alone
}

// Regression: a completion on a stream thread that drops the last reference
// (the model was unloaded while the request was queued) must not make the
// stream join itself; the executor is destroyed elsewhere and releases the model.
TEST_F(ModelExecutorTest, LastReferenceDroppedInACompletionOnAStream) {
  ExecutorOptions o = Options(1, 1, false);
  o.inline_max_seconds = 0;  // always on the stream thread
  auto executor = ModelExecutor::Create(shared_model(), o);
  ASSERT_TRUE(executor.ok()) << executor.status();
  const long model_refs = shared_model().use_count();
  struct Holder {
    std::shared_ptr<ModelExecutor> executor;
    absl::Status status;
    absl::Notification done;
  } holder{std::move(*executor)};
  auto r = MakeRequest(6, 1);
  ModelExecutor* raw = holder.executor.get();
  raw->Submit(r->request, [h = &holder](const absl::Status& status, const ExecutionTiming&) {
    h->status = status;
    h->executor.reset();  // the last reference, on the stream thread
    h->done.Notify();
  });
  ASSERT_TRUE(holder.done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  ASSERT_TRUE(holder.status.ok()) << holder.status;
  ExpectClose(r->output, Alone(6, 1));
  // The executor held one reference to the model; it goes once the executor is gone.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (shared_model().use_count() >= model_refs && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(shared_model().use_count(), model_refs - 1);
}

TEST_F(ModelExecutorTest, WarmupFailureIsReported) {
  ExecutorOptions o = Options(1, 1, false);
  o.warmup_batch_sizes = {1, 9};  // the model takes at most 8
  auto executor = ModelExecutor::Create(shared_model(), o);
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(executor.status().message().find("warm-up at batch 9"), std::string::npos) << executor.status();
}

// Destroying the executor (last handle dropped) finishes what is queued.
TEST_F(ModelExecutorTest, DestructionFinishesQueuedRequests) {
  auto executor = ModelExecutor::Create(shared_model(), Options(1, 1, true, /*delay_us=*/300'000, {}, /*eager=*/false));
  ASSERT_TRUE(executor.ok()) << executor.status();
  std::shared_ptr<ModelExecutor> e = *executor;
  auto r = MakeRequest(2, 1);
  absl::Status status;
  absl::Notification started;
  std::thread t([&, keep = e] {
    started.Notify();
    status = keep->Execute(r->request, nullptr);
  });
  started.WaitForNotification();
  e.reset();
  executor->reset();  // only the request thread's reference remains
  t.join();
  ASSERT_TRUE(status.ok()) << status;
  ExpectClose(r->output, Alone(2, 1));
}

}  // namespace
// max_queue_size = 1: with the only stream held (inside A's completion) and B
// waiting, C is refused at once with RESOURCE_EXHAUSTED naming the limit; B
// still runs once the stream is free, and the queue takes requests again.
TEST_F(ModelExecutorTest, FullQueueRefusesWithResourceExhausted) {
  ExecutorOptions o = Options(1, 1, false);
  o.inline_max_seconds = 0;  // every request goes through the queue
  o.max_queue_size = 1;
  auto executor = ModelExecutor::Create(shared_model(), o);
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto a = MakeRequest(0, 1), b = MakeRequest(1, 1), c = MakeRequest(2, 1), d = MakeRequest(3, 1);
  absl::Notification a_running, release_a;
  (*executor)->Submit(a->request, [&](const absl::Status& s, const ExecutionTiming&) {
    EXPECT_TRUE(s.ok()) << s;
    a_running.Notify();
    release_a.WaitForNotification();  // holds the only stream
  });
  a_running.WaitForNotification();
  absl::Notification b_done;
  absl::Status b_status = absl::UnknownError("not run");
  (*executor)->Submit(b->request, [&](const absl::Status& s, const ExecutionTiming&) {
    b_status = s;
    b_done.Notify();
  });
  EXPECT_EQ((*executor)->queue_depth(), 1);
  absl::Status c_status = absl::UnknownError("not run");
  (*executor)->Submit(c->request, [&](const absl::Status& s, const ExecutionTiming&) { c_status = s; });
  EXPECT_EQ(c_status.code(), absl::StatusCode::kResourceExhausted) << c_status;
  EXPECT_NE(c_status.message().find("max_queue_size=1"), std::string::npos) << c_status;
  EXPECT_EQ((*executor)->queue_depth(), 1);
  release_a.Notify();
  ASSERT_TRUE(b_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(b_status.ok()) << b_status;
  ExpectClose(b->output, Alone(1, 1));
  ASSERT_TRUE((*executor)->Execute(d->request, nullptr).ok());
  ExpectClose(d->output, Alone(3, 1));
}

// Regression: an empty warm-up list (config "warmup_batch_sizes": []) read
// the minimum of no sizes; it now warms up at batch 1.
TEST_F(ModelExecutorTest, EmptyWarmupListWarmsUpAtBatchOne) {
  ExecutorOptions o = Options(1, 1, false);
  o.warmup_batch_sizes = {};
  auto executor = ModelExecutor::Create(shared_model(), o);
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto r = MakeRequest(4, 1);
  ASSERT_TRUE((*executor)->Execute(r->request, nullptr).ok());
  ExpectClose(r->output, Alone(4, 1));
}

}  // namespace q8::server

namespace q8::server {
namespace {

// Auto layout: choose_layout is called once, with a one-thread run time of the
// smallest warm-up batch (measured on the creating thread at one intra-op
// thread), and the executor starts the layout it returns.
TEST_F(ModelExecutorTest, ChooseLayoutGetsTheMeasuredRunAndItsLayoutIsStarted) {
  ExecutorOptions o = Options(1, 1, false);
  o.warmup_batch_sizes = {4, 2};
  int calls = 0;
  double given = -1;
  int threads_seen = 0;
  o.choose_layout = [&](double run_seconds) {
    ++calls;
    given = run_seconds;
    threads_seen = engine::IntraOpThreads();
    return StreamLayout{3, 2};
  };
  engine::ScopedIntraOpThreads caller(2);
  auto executor = ModelExecutor::Create(shared_model(), o);
  ASSERT_TRUE(executor.ok()) << executor.status();
  EXPECT_EQ(calls, 1);
  EXPECT_GT(given, 0);
  EXPECT_LT(given, 10);  // one run of a small CNN at batch 2, not the whole warm-up loop
  EXPECT_EQ(threads_seen, 1);
  EXPECT_EQ(engine::IntraOpThreads(), 2);  // the measurement's one thread was scoped
  EXPECT_TRUE((*executor)->auto_layout());
  EXPECT_DOUBLE_EQ((*executor)->auto_run_seconds(), given);
  EXPECT_EQ((*executor)->layout().streams, 3);
  EXPECT_EQ((*executor)->layout().threads_per_stream, 2);
  auto r = MakeRequest(4, 2);
  ASSERT_TRUE((*executor)->Execute(r->request, nullptr).ok());
  ExpectClose(r->output, Alone(4, 2));

  o.choose_layout = nullptr;  // a fixed layout is not auto
  auto fixed = ModelExecutor::Create(shared_model(), o);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_FALSE((*fixed)->auto_layout());
}

// A model with a dynamic length axis (x [N, L, 4] -> Relu): only requests of
// the same L merge; each request gets Relu of its own rows, whatever it ran with.
TEST(ModelExecutorShapesTest, OnlyRequestsOfTheSameSampleShapeMerge) {
  q8::testing::OnnxBuilder b;
  b.Input("x", {-1, -1, 4}).Output("y");
  b.Node("Relu", {"x"}, {"y"});
  auto model = engine::Compile(b.Serialize(), {.max_batch_size = 8, .warmup_batch_sizes = {1}});
  ASSERT_TRUE(model.ok()) << model.status();
  std::atomic<int> executions{0};
  std::atomic<int64_t> rows{0};
  ExecutorOptions o = Options(1, 1, true, /*delay_us=*/2'000'000, /*preferred=*/{8});
  o.on_execution = [&](int64_t batch) {
    executions.fetch_add(1);
    rows.fetch_add(batch);
  };
  auto executor = ModelExecutor::Create(*model, o);
  ASSERT_TRUE(executor.ok()) << executor.status();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 3}, {2, 3}, {1, 5}, {2, 5}, {1, 3}};
  struct Part {
    core::Tensor x, y;
    core::TensorView in;
    core::MutableTensorView out;
    ExecutionRequest request;
  };
  std::vector<std::unique_ptr<Part>> parts;
  for (size_t i = 0; i < shapes.size(); ++i) {
    auto p = std::make_unique<Part>();
    const auto [n, l] = shapes[i];
    std::vector<float> v(n * l * 4);
    for (size_t k = 0; k < v.size(); ++k) v[k] = (k % 3 == 0 ? -1.f : 1.f) * static_cast<float>(k + 10 * i);
    p->x = core::Tensor::FromFloats({n, l, 4}, v);
    p->y = core::Tensor(core::DataType::kFloat32, {n, l, 4});
    p->in = p->x.view();
    p->out = p->y.mutable_view();
    p->request.inputs = absl::MakeConstSpan(&p->in, 1);
    p->request.outputs = absl::MakeConstSpan(&p->out, 1);
    p->request.batch = n;
    parts.push_back(std::move(p));
  }
  std::vector<std::unique_ptr<ModelExecutor::Arrival>> arrivals;
  for (size_t i = 0; i < parts.size(); ++i)
    arrivals.push_back(std::make_unique<ModelExecutor::Arrival>(executor->get()));
  std::vector<absl::Status> statuses(parts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < parts.size(); ++i) {
    threads.emplace_back([&, i] { statuses[i] = (*executor)->Execute(parts[i]->request, nullptr, arrivals[i].get()); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < parts.size(); ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i];
    const auto x = parts[i]->x.span<float>();
    const auto y = parts[i]->y.span<float>();
    for (int64_t k = 0; k < parts[i]->x.num_elements(); ++k) ASSERT_EQ(y[k], std::max(x[k], 0.f)) << i << ":" << k;
  }
  EXPECT_EQ(rows.load(), 7);
  EXPECT_GE(executions.load(), 2);  // L=3 and L=5 never share an execution
}

}  // namespace
}  // namespace q8::server
