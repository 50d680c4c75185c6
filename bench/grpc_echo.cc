// grpc_echo: the floor under any gRPC server's latency on this machine — a
// unary round trip on loopback that does no work, with the threading
// q8serve's ModelInfer uses (server: one thread on one completion queue;
// client: one thread on one completion queue, like q8bench). "p50 added by
// serving" minus this floor is what q8serve itself adds (BENCHMARKS.md).
//
// --server_work_us makes the server busy-wait that long before each answer,
// as a model computing on the serving thread would: on this KVM guest a
// round trip around 20 ms of work costs ~250 µs more than one around none
// (the waiting client's idle vCPU is slow to wake), so a served model's
// floor is measured with its compute time as the work (bench/side_by_side).
//
// Forks: the child serves, the parent keeps --concurrency calls in flight for
// --seconds and prints one JSON line {p50_us, p90_us, p99_us, requests,
// server_cpu_us_per_request}. The last is the floor under q8serve's server
// CPU per request (bench/request_cpu.sh): the child's utime + stime over the
// timed window, divided by the calls answered in it.
//   grpc_echo [--request_bytes 3136] [--response_bytes 40] [--concurrency 1]
//             [--server_work_us 0] [--seconds 3] [--warmup_seconds 0.5]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "server/metrics/process_collector.h"

ABSL_FLAG(int64_t, request_bytes, 3136, "request message size (Fashion CNN batch 1: 1x28x28 fp32)");
ABSL_FLAG(int64_t, response_bytes, 40, "response message size (Fashion CNN batch 1: 10 fp32 logits)");
ABSL_FLAG(int64_t, server_work_us, 0, "the server busy-waits this long before each answer (a model's compute)");
ABSL_FLAG(int, concurrency, 1, "calls kept in flight (q8bench's --concurrency)");
ABSL_FLAG(double, seconds, 3, "timed round trips for this long");
ABSL_FLAG(double, warmup_seconds, 0.5, "untimed round trips first");

namespace {

grpc::ByteBuffer Bytes(int64_t n) {
  grpc::Slice slice(std::string(static_cast<size_t>(n), 'x'));
  return grpc::ByteBuffer(&slice, 1);
}

// One thread, one completion queue; each call: read the request, answer.
[[noreturn]] void Serve(int port, int64_t response_bytes, std::chrono::microseconds work) {
  grpc::AsyncGenericService service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials());
  builder.RegisterAsyncGenericService(&service);
  std::unique_ptr<grpc::ServerCompletionQueue> cq = builder.AddCompletionQueue();
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) _exit(3);
  struct Call {
    grpc::GenericServerContext context;
    grpc::GenericServerAsyncReaderWriter stream{&context};
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
    int stage = 0;
  };
  const grpc::ByteBuffer response = Bytes(response_bytes);
  auto request_call = [&] {
    auto* call = new Call;
    call->response = response;
    service.RequestCall(&call->context, &call->stream, cq.get(), cq.get(), call);
  };
  request_call();
  void* tag;
  bool ok;
  while (cq->Next(&tag, &ok)) {
    auto* call = static_cast<Call*>(tag);
    if (call->stage == 0 && ok) {
      request_call();
      call->stage = 1;
      call->stream.Read(&call->request, call);
    } else if (call->stage == 1 && ok) {
      call->stage = 2;
      const auto done = std::chrono::steady_clock::now() + work;
      while (std::chrono::steady_clock::now() < done) {
      }
      call->stream.WriteAndFinish(call->response, grpc::WriteOptions(), grpc::Status::OK, call);
    } else {
      delete call;
    }
  }
  _exit(0);
}

// A port the kernel just handed out and released (the child binds it next).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int port = FreePort();
  const pid_t child = fork();
  if (child == 0) {
    Serve(port, absl::GetFlag(FLAGS_response_bytes), std::chrono::microseconds(absl::GetFlag(FLAGS_server_work_us)));
  }

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::fprintf(stderr, "grpc_echo: the echo server did not start\n");
    kill(child, SIGKILL);
    return 1;
  }
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  const grpc::ByteBuffer request = Bytes(absl::GetFlag(FLAGS_request_bytes));
  using Clock = std::chrono::steady_clock;
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer response;
    grpc::Status status;
    std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
    Clock::time_point start;
  };
  auto start_call = [&] {
    auto* call = new Call;
    call->start = Clock::now();
    call->reader = stub.PrepareUnaryCall(&call->context, "/q8.bench.Echo/Echo", request, &cq);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
  };
  std::vector<double> micros;
  const auto warm_end = Clock::now() + std::chrono::duration<double>(absl::GetFlag(FLAGS_warmup_seconds));
  const auto end = warm_end + std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds));
  const int concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency));
  for (int i = 0; i < concurrency; ++i) start_call();
  int status = 0;
  int in_flight = concurrency;
  bool timing = false;
  double cpu_seconds_at_start = 0;
  int64_t answered = 0;
  void* tag;
  bool ok;
  while (in_flight > 0 && cq.Next(&tag, &ok)) {
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    --in_flight;
    const auto now = Clock::now();
    if (!call->status.ok()) {
      std::fprintf(stderr, "grpc_echo: %s\n", call->status.error_message().c_str());
      status = 1;
      continue;  // drain the others
    }
    if (!timing && now >= warm_end) {
      timing = true;
      cpu_seconds_at_start = q8::server::metrics::ProcessCpuSeconds(child).value_or(0);
    }
    if (timing && call->start >= warm_end) {
      micros.push_back(std::chrono::duration<double, std::micro>(now - call->start).count());
    }
    if (timing) ++answered;
    if (status == 0 && now < end) {
      start_call();
      ++in_flight;
    }
  }
  const double cpu_seconds = q8::server::metrics::ProcessCpuSeconds(child).value_or(0) - cpu_seconds_at_start;
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  if (micros.empty()) return status == 0 ? 1 : status;
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) { return micros[std::min(micros.size() - 1, static_cast<size_t>(q * micros.size()))]; };
  std::printf(
      "{\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"requests\": %zu, \"server_cpu_us_per_request\": "
      "%.1f}\n",
      at(0.5), at(0.9), at(0.99), micros.size(),
      answered > 0 ? 1e6 * cpu_seconds / static_cast<double>(answered) : 0.0);
  return status;
}
