// Client: a typed wrapper over the GRPCInferenceService stub. Every call gets a
// deadline (the configured timeout), returns absl::Status/StatusOr with the
// server's code and message, and the channel accepts messages up to 1 GiB in
// both directions so that large models upload and large outputs come back.
#pragma once

#include <grpcpp/channel.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/q8ctl/channel.h"
#include "inference.grpc.pb.h"
#include "q8serve/v1/model_service.grpc.pb.h"

namespace q8::client {

inline constexpr int kMaxMessageBytes = 1 << 30;  // 1 GiB
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(60);
inline constexpr char kDefaultServer[] = "localhost:8001";
inline constexpr size_t kUploadChunkBytes = size_t{1} << 20;  // 1 MiB per streamed chunk

// A streamed upload (q8serve.v1.ModelService/Upload).
struct UploadSpec {
  std::string model_name;
  int64_t version = 1;
  std::optional<std::string> config_json;
  // (path, bytes): "model.onnx", "calibration/inputs.npy" or "calibration/inputs.npz",
  // "calibration/labels.npy".
  std::vector<std::pair<std::string, std::string>> files;
  size_t chunk_bytes = kUploadChunkBytes;
};
using UploadEventFn = std::function<void(const q8serve::v1::UploadEvent&)>;

struct ClientOptions {
  std::string server = kDefaultServer;       // host:port (any gRPC target string)
  absl::Duration timeout = kDefaultTimeout;  // per-RPC deadline
  ChannelSecurity security;                  // TLS and token (channel.h)
};

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
  absl::StatusOr<inference::ModelMetadataResponse> ModelMetadata(const std::string& name, const std::string& version);
  absl::StatusOr<inference::ModelInferResponse> ModelInfer(const inference::ModelInferRequest& request);
  // Empty name/version: all models / all versions.
  absl::StatusOr<inference::ModelStatisticsResponse> ModelStatistics(const std::string& name,
                                                                     const std::string& version);
  absl::StatusOr<inference::RepositoryIndexResponse> RepositoryIndex(bool ready_only = false);
  absl::Status RepositoryModelLoad(const inference::RepositoryModelLoadRequest& request);
  absl::Status RepositoryModelUnload(const std::string& name);

  // q8serve.v1.ModelService. Upload streams the files and calls `on_event`
  // (from another thread) for every event; returns the final result.
  absl::StatusOr<q8serve::v1::UploadResult> Upload(const UploadSpec& spec, const UploadEventFn& on_event);
  absl::StatusOr<q8serve::v1::GetReportResponse> GetReport(const std::string& name, int64_t version);
  // The QDQ ONNX bytes; `exported_version` (if not null) gets the version.
  absl::StatusOr<std::string> Export(const std::string& name, int64_t version, int64_t* exported_version);

 private:
  using Stub = inference::GRPCInferenceService::Stub;
  template <typename Request, typename Response>
  using Method = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&, Response*);

  // Runs one unary RPC with the deadline set; converts the status.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(Method<Request, Response> method, const Request& request);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
  std::unique_ptr<q8serve::v1::ModelService::Stub> model_stub_;
  absl::Duration timeout_;
};

}  // namespace q8::client
