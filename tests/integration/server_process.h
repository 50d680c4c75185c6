// ServerProcess: runs the real q8serve binary as a child process for
// integration tests. Picks a free loopback port, waits for grpc health ""
// to report SERVING, and stops it with SIGTERM (Stop() returns the exit
// code). The child's stderr goes to a log file that is printed on failure.
//
// Not thread-safe; one ServerProcess per child. The destructor SIGKILLs a
// child that is still running.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "inference.grpc.pb.h"
#include "q8serve/v1/model_service.grpc.pb.h"

namespace q8::testing {

// Paths baked in by CMake.
std::string ServerBinary();
std::string TestDataPath(const std::string& file);
std::string ReadFileOrDie(const std::string& path);
// Fresh empty directory under the system temp dir.
std::string MakeTempDir(const std::string& prefix);
// A loopback TCP port that was free a moment ago (0 if none could be bound).
int PickFreePort();

// Starts `args` (args[0]: the binary's path) as a child process with stdout
// and stderr appended to `log_path` (or to `log_path` and `err_path`
// separately, truncated, when `err_path` is given). Returns its pid, or -1.
pid_t Spawn(const std::vector<std::string>& args, const std::string& log_path, const std::string& err_path = "");

class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ~ServerProcess();

  // Starts q8serve on `repository` with extra flags; waits until ready.
  ::testing::AssertionResult Start(const std::string& repository, std::vector<std::string> flags = {},
                                   double timeout_seconds = 120);
  // Sends SIGTERM and waits (up to timeout) for exit. Returns the exit code,
  // 128+signal if killed by a signal, or -1 on timeout (child then killed).
  int Stop(double timeout_seconds = 60);
  // Sends a signal without waiting.
  void Signal(int signo);
  // Waits for exit; same return convention as Stop().
  int WaitForExit(double timeout_seconds);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The log goes to <repository><suffix>; servers sharing a repository need
  // different suffixes. Call before Start().
  void set_log_suffix(std::string suffix) { log_suffix_ = std::move(suffix); }
  // Credentials of the channel Start() polls health with and Stub() uses
  // (a TLS server); plaintext by default. Call before Start().
  void set_channel_credentials(std::shared_ptr<grpc::ChannelCredentials> credentials) {
    credentials_ = std::move(credentials);
  }

  const std::string& address() const { return address_; }
  std::unique_ptr<inference::GRPCInferenceService::Stub> Stub() const;
  std::unique_ptr<q8serve::v1::ModelService::Stub> ModelStub() const;
  // Health Check; returns the gRPC status and fills `serving`.
  grpc::Status HealthCheck(const std::string& service,
                           grpc::health::v1::HealthCheckResponse::ServingStatus* status) const;
  std::string Log() const;
  // Port of the Prometheus endpoint, from the server's log (0 if not found).
  // Start() passes --metrics_port=0 unless the flags set it.
  int MetricsPort() const;

 private:
  pid_t pid_ = -1;
  std::string address_;
  std::string log_path_;
  std::string log_suffix_ = ".server.log";
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
};

// Channel with a large receive limit (batched logits) and no retries;
// plaintext unless `credentials` are given.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

}  // namespace q8::testing
