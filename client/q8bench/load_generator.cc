// Async issuing loop of q8bench (see load_generator.h).
#include "client/q8bench/load_generator.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/slice.h>

#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/q8ctl/grpc_status.h"

namespace q8::bench {
namespace {

constexpr char kInferMethod[] = "/inference.GRPCInferenceService/ModelInfer";
// Open-loop sends later than this behind schedule count as late.
constexpr int64_t kLateNs = 1'000'000;

}  // namespace

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct LoadGenerator::Call {
  grpc::ClientContext context;
  grpc::ByteBuffer response;
  grpc::Status status;
  int64_t start_ns = 0;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
};

LoadGenerator::LoadGenerator(std::shared_ptr<grpc::Channel> channel, std::vector<std::string> requests,
                             absl::Duration timeout)
    : stub_(std::move(channel)), request_bytes_(std::move(requests)), timeout_(timeout) {
  // Slices point at request_bytes_ (no copy per call; the buffers outlive every call).
  for (const std::string& bytes : request_bytes_) {
    grpc::Slice slice(bytes.data(), bytes.size(), grpc::Slice::STATIC_SLICE);
    requests_.emplace_back(&slice, 1);
  }
}

LoadGenerator::~LoadGenerator() {
  Stop();
  cq_.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
  }
}

void LoadGenerator::Start(const LoadLevel& level) {
  Stop();
  stopping_ = false;
  thread_ = std::thread([this, level] { Loop(level); });
}

void LoadGenerator::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<Completion> LoadGenerator::Drain() {
  std::vector<Completion> out;
  std::lock_guard<std::mutex> lock(mu_);
  out.swap(pending_);
  return out;
}

std::string LoadGenerator::first_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_error_;
}

void LoadGenerator::Issue(int64_t now_ns) {
  auto* call = new Call;
  call->start_ns = now_ns;
  call->context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout_));
  call->reader = stub_.PrepareUnaryCall(&call->context, kInferMethod, requests_[next_request_], &cq_);
  next_request_ = (next_request_ + 1) % requests_.size();
  call->reader->StartCall();
  call->reader->Finish(&call->response, &call->status, call);
  ++in_flight_;
  sent_.fetch_add(1, std::memory_order_relaxed);
}

void LoadGenerator::Complete(Call* call, bool ok) {
  const int64_t end = NowNs();
  --in_flight_;
  const bool success = ok && call->status.ok();
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back({end, end - call->start_ns, success});
    if (!success && first_error_.empty()) {
      absl::Status s = ok ? client::FromGrpcStatus(call->status) : absl::UnavailableError("call not completed");
      first_error_ = s.ToString();
    }
  }
  (success ? completed_ : failed_).fetch_add(1, std::memory_order_relaxed);
  delete call;
}

void LoadGenerator::Loop(LoadLevel level) {
  const bool open = level.mode == LoadMode::kRequestRate;
  std::mt19937_64 rng(level.seed);
  std::exponential_distribution<double> poisson(open ? level.rate : 1.0);
  const double mean_gap_ns = open ? 1e9 / level.rate : 0;
  auto gap = [&]() -> int64_t {
    return static_cast<int64_t>(level.arrival == Arrival::kPoisson ? poisson(rng) * 1e9 : mean_gap_ns);
  };
  int64_t next_send = NowNs();
  while (true) {
    const bool stopping = stopping_.load(std::memory_order_relaxed);
    int64_t now = NowNs();
    if (!stopping) {
      if (open) {
        while (next_send <= now && in_flight_ < level.max_outstanding) {
          if (now - next_send > kLateNs) late_.fetch_add(1, std::memory_order_relaxed);
          Issue(now);
          next_send += gap();
          now = NowNs();
        }
      } else {
        while (in_flight_ < level.concurrency) Issue(NowNs());
      }
    }
    if (stopping && in_flight_ == 0) break;
    // Wake for the next completion, the next open-loop send, or to notice Stop().
    int64_t wake = now + 50'000'000;
    if (open && !stopping && in_flight_ < level.max_outstanding) wake = std::min(wake, next_send);
    void* tag = nullptr;
    bool ok = false;
    const auto deadline = std::chrono::system_clock::now() + std::chrono::nanoseconds(std::max<int64_t>(wake - now, 0));
    switch (cq_.AsyncNext(&tag, &ok, deadline)) {
      case grpc::CompletionQueue::GOT_EVENT:
        Complete(static_cast<Call*>(tag), ok);
        break;
      case grpc::CompletionQueue::TIMEOUT:
        break;
      case grpc::CompletionQueue::SHUTDOWN:
        return;
    }
  }
}

}  // namespace q8::bench
