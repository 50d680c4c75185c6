#include "tests/integration/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace q8::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// True once something accepts TCP connections on 127.0.0.1:port.
bool PortAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 0;
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string ServerBinary() { return Q8SERVE_BINARY; }
std::string TestDataPath(const std::string& file) { return std::string(Q8_TEST_DATA_DIR) + "/" + file; }

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string MakeTempDir(const std::string& prefix) {
  static std::atomic<int> counter{0};
  fs::path dir = fs::temp_directory_path() /
                 (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1)));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& log_path, const std::string& err_path) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls until execv.
  const int flags = O_WRONLY | O_CREAT | (err_path.empty() ? O_APPEND : O_TRUNC);
  const int out = ::open(log_path.c_str(), flags, 0644);
  const int err = err_path.empty() ? out : ::open(err_path.c_str(), flags, 0644);
  if (out < 0 || err < 0) std::_Exit(126);
  ::dup2(out, STDOUT_FILENO);
  ::dup2(err, STDERR_FILENO);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  std::_Exit(127);
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(INT_MAX);
  args.SetMaxSendMessageSize(INT_MAX);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // Start() polls before the server listens: keep reconnect backoff short so
  // readiness is seen within ~100 ms instead of grpc's exponential 1 s+.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  if (credentials == nullptr) credentials = grpc::InsecureChannelCredentials();
  return grpc::CreateCustomChannel(address, credentials, args);
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

::testing::AssertionResult ServerProcess::Start(const std::string& repository, std::vector<std::string> flags,
                                                double timeout_seconds) {
  log_path_ = repository + log_suffix_;
  for (int attempt = 0; attempt < 3; ++attempt) {
    int port = PickFreePort();
    if (port == 0) return ::testing::AssertionFailure() << "no free port";
    address_ = "127.0.0.1:" + std::to_string(port);
    std::vector<std::string> args = {ServerBinary(), "--grpc_address=" + address_, "--model_repository=" + repository};
    // Tests run in parallel: never the fixed default metrics port.
    bool metrics_port_given = false;
    for (const auto& f : flags) metrics_port_given = metrics_port_given || f.rfind("--metrics_port=", 0) == 0;
    if (!metrics_port_given) args.push_back("--metrics_port=0");
    args.insert(args.end(), flags.begin(), flags.end());
    pid_ = Spawn(args, log_path_);
    if (pid_ < 0) return ::testing::AssertionFailure() << "fork failed";
    channel_.reset();
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_seconds);
    while (Clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;  // died (maybe the port was taken): retry
      }
      // Create the channel only once the port is open: a first failed
      // connect would put it into reconnect backoff (seconds).
      if (channel_ == nullptr) {
        if (!PortAccepts(port)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        channel_ = MakeChannel("ipv4:" + address_, credentials_);
      }
      grpc::health::v1::HealthCheckResponse::ServingStatus serving{};
      // grpc++'s default health service reports "" SERVING from
      // BuildAndStart until the server sets it NOT_SERVING a moment later;
      // ServerReady (the startup phase) has no such window.
      if (HealthCheck("", &serving).ok() && serving == grpc::health::v1::HealthCheckResponse::SERVING) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        inference::ServerReadyResponse ready;
        if (Stub()->ServerReady(&ctx, {}, &ready).ok() && ready.ready()) return ::testing::AssertionSuccess();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (pid_ > 0) {
      return ::testing::AssertionFailure() << "q8serve not ready after " << timeout_seconds << " s\n" << Log();
    }
  }
  return ::testing::AssertionFailure() << "q8serve failed to start\n" << Log();
}

void ServerProcess::Signal(int signo) {
  if (pid_ > 0) ::kill(pid_, signo);
}

int ServerProcess::WaitForExit(double timeout_seconds) {
  if (pid_ <= 0) return -1;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return DecodeWaitStatus(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

int ServerProcess::Stop(double timeout_seconds) {
  Signal(SIGTERM);
  return WaitForExit(timeout_seconds);
}

std::unique_ptr<inference::GRPCInferenceService::Stub> ServerProcess::Stub() const {
  return inference::GRPCInferenceService::NewStub(channel_);
}

std::unique_ptr<q8serve::v1::ModelService::Stub> ServerProcess::ModelStub() const {
  return q8serve::v1::ModelService::NewStub(channel_);
}

grpc::Status ServerProcess::HealthCheck(const std::string& service,
                                        grpc::health::v1::HealthCheckResponse::ServingStatus* serving) const {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  *serving = resp.status();
  return s;
}

int ServerProcess::MetricsPort() const {
  // Server::Create logs "metrics listening on 0.0.0.0:N (port N), path /metrics".
  std::ifstream in(log_path_);
  std::string line;
  int port = 0;
  while (std::getline(in, line)) {
    const size_t at = line.find("metrics listening on ");
    const size_t p = line.find("(port ", at);
    if (at != std::string::npos && p != std::string::npos) port = std::atoi(line.c_str() + p + 6);
  }
  return port;
}

std::string ServerProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << "---- q8serve log (" << log_path_ << ") ----\n" << in.rdbuf();
  return ss.str();
}

}  // namespace q8::testing
