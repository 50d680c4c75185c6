// Client implementation: channel setup, deadlines, status conversion.
#include "client/q8ctl/client.h"

#include <chrono>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "client/q8ctl/grpc_status.h"

namespace q8::client {

std::shared_ptr<grpc::Channel> CreateChannel(const std::string& server) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<Client> Client::Connect(const ClientOptions& options) {
  return std::make_unique<Client>(CreateChannel(options.server), options.timeout);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout)
    : channel_(std::move(channel)), stub_(inference::GRPCInferenceService::NewStub(channel_)), timeout_(timeout) {}

template <typename Request, typename Response>
absl::StatusOr<Response> Client::Call(Method<Request, Response> method, const Request& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  Response response;
  absl::Status status = FromGrpcStatus((stub_.get()->*method)(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<bool> Client::ServerLive() {
  auto response = Call(&Stub::ServerLive, inference::ServerLiveRequest());
  if (!response.ok()) return response.status();
  return response->live();
}

absl::StatusOr<bool> Client::ServerReady() {
  auto response = Call(&Stub::ServerReady, inference::ServerReadyRequest());
  if (!response.ok()) return response.status();
  return response->ready();
}

absl::StatusOr<bool> Client::ModelReady(const std::string& name, const std::string& version) {
  inference::ModelReadyRequest request;
  request.set_name(name);
  request.set_version(version);
  auto response = Call(&Stub::ModelReady, request);
  if (!response.ok()) return response.status();
  return response->ready();
}

absl::StatusOr<inference::ServerMetadataResponse> Client::ServerMetadata() {
  return Call(&Stub::ServerMetadata, inference::ServerMetadataRequest());
}

absl::StatusOr<inference::ModelMetadataResponse> Client::ModelMetadata(const std::string& name,
                                                                       const std::string& version) {
  inference::ModelMetadataRequest request;
  request.set_name(name);
  request.set_version(version);
  return Call(&Stub::ModelMetadata, request);
}

absl::StatusOr<inference::ModelInferResponse> Client::ModelInfer(const inference::ModelInferRequest& request) {
  return Call(&Stub::ModelInfer, request);
}

absl::StatusOr<inference::RepositoryIndexResponse> Client::RepositoryIndex(bool ready_only) {
  inference::RepositoryIndexRequest request;
  request.set_ready(ready_only);
  return Call(&Stub::RepositoryIndex, request);
}

absl::Status Client::RepositoryModelLoad(const inference::RepositoryModelLoadRequest& request) {
  return Call(&Stub::RepositoryModelLoad, request).status();
}

absl::Status Client::RepositoryModelUnload(const std::string& name) {
  inference::RepositoryModelUnloadRequest request;
  request.set_model_name(name);
  return Call(&Stub::RepositoryModelUnload, request).status();
}

}  // namespace q8::client
