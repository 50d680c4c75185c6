// Client: a typed wrapper over the GRPCInferenceService stub. Every call gets a
// deadline (the configured timeout), returns absl::Status/StatusOr with the
// server's code and message, and the channel accepts messages up to 1 GiB in
// both directions so that large models upload and large outputs come back.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "inference.grpc.pb.h"

namespace q8::client {

inline constexpr int kMaxMessageBytes = 1 << 30;  // 1 GiB
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(60);
inline constexpr char kDefaultServer[] = "localhost:8001";

struct ClientOptions {
  std::string server = kDefaultServer;  // host:port (any gRPC target string)
  absl::Duration timeout = kDefaultTimeout;  // per-RPC deadline
};

// Channel with the 1 GiB send/receive limits (insecure credentials).
std::shared_ptr<grpc::Channel> CreateChannel(const std::string& server);

class Client {
 public:
  // Connects lazily: no RPC is made until the first call.
  static std::unique_ptr<Client> Connect(const ClientOptions& options);
  // Uses an existing channel (tests use an in-process one).
  Client(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout);

  absl::Duration timeout() const { return timeout_; }

  absl::StatusOr<bool> ServerLive();
  absl::StatusOr<bool> ServerReady();
  absl::StatusOr<bool> ModelReady(const std::string& name, const std::string& version);
  absl::StatusOr<inference::ServerMetadataResponse> ServerMetadata();
  absl::StatusOr<inference::ModelMetadataResponse> ModelMetadata(const std::string& name,
                                                                 const std::string& version);
  absl::StatusOr<inference::ModelInferResponse> ModelInfer(const inference::ModelInferRequest& request);
  absl::StatusOr<inference::RepositoryIndexResponse> RepositoryIndex(bool ready_only = false);
  absl::Status RepositoryModelLoad(const inference::RepositoryModelLoadRequest& request);
  absl::Status RepositoryModelUnload(const std::string& name);

 private:
  using Stub = inference::GRPCInferenceService::Stub;
  template <typename Request, typename Response>
  using Method = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&, Response*);

  // Runs one unary RPC with the deadline set; converts the status.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(Method<Request, Response> method, const Request& request);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
  absl::Duration timeout_;
};

}  // namespace q8::client
