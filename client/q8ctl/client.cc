// Client implementation: channel setup, deadlines, status conversion.
#include "client/q8ctl/client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/q8ctl/grpc_status.h"

namespace q8::client {

std::unique_ptr<Client> Client::Connect(const ClientOptions& options) {
  return std::make_unique<Client>(CreateChannel(options.server, options.security), options.timeout);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout)
    : channel_(std::move(channel)),
      stub_(inference::GRPCInferenceService::NewStub(channel_)),
      model_stub_(q8serve::v1::ModelService::NewStub(channel_)),
      timeout_(timeout) {}

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

absl::StatusOr<inference::ModelStatisticsResponse> Client::ModelStatistics(const std::string& name,
                                                                           const std::string& version) {
  inference::ModelStatisticsRequest request;
  request.set_name(name);
  request.set_version(version);
  return Call(&Stub::ModelStatistics, request);
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

absl::StatusOr<q8serve::v1::UploadResult> Client::Upload(const UploadSpec& spec, const UploadEventFn& on_event) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  auto stream = model_stub_->Upload(&context);

  // Events are read on their own thread so that progress shows while the
  // chunks are still being written.
  std::optional<q8serve::v1::UploadResult> result;
  std::thread reader([&] {
    q8serve::v1::UploadEvent event;
    while (stream->Read(&event)) {
      if (event.has_result()) result = event.result();
      if (on_event) on_event(event);
    }
  });

  q8serve::v1::UploadRequest header;
  header.mutable_header()->set_model_name(spec.model_name);
  header.mutable_header()->set_version(spec.version);
  if (spec.config_json) header.mutable_header()->set_config_json(*spec.config_json);
  int64_t total = 0;
  for (const auto& [path, bytes] : spec.files) total += static_cast<int64_t>(bytes.size());
  header.mutable_header()->set_total_bytes(total);
  const size_t chunk = std::max<size_t>(spec.chunk_bytes, 1);
  // A failed Write means the server already ended the call: stop sending and
  // let Finish() report its status.
  bool ok = stream->Write(header);
  for (const auto& [path, bytes] : spec.files) {
    for (size_t offset = 0; ok && offset < bytes.size(); offset += chunk) {
      q8serve::v1::UploadRequest request;
      request.mutable_chunk()->set_path(path);
      request.mutable_chunk()->set_data(bytes.data() + offset, std::min(chunk, bytes.size() - offset));
      ok = stream->Write(request);
    }
  }
  if (ok) stream->WritesDone();
  reader.join();
  absl::Status status = FromGrpcStatus(stream->Finish());
  if (!status.ok()) return status;
  if (!result) return absl::InternalError("the server ended the upload without a result");
  return *std::move(result);
}

absl::StatusOr<q8serve::v1::GetReportResponse> Client::GetReport(const std::string& name, int64_t version) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  q8serve::v1::GetReportRequest request;
  request.set_model_name(name);
  request.set_version(version);
  q8serve::v1::GetReportResponse response;
  absl::Status status = FromGrpcStatus(model_stub_->GetReport(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<std::string> Client::Export(const std::string& name, int64_t version, int64_t* exported_version) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  q8serve::v1::ExportRequest request;
  request.set_model_name(name);
  request.set_version(version);
  auto reader = model_stub_->Export(&context, request);
  std::string bytes;
  q8serve::v1::ExportChunk chunk;
  int64_t total = -1;
  while (reader->Read(&chunk)) {
    if (bytes.empty() && chunk.total_bytes() > 0) bytes.reserve(static_cast<size_t>(chunk.total_bytes()));
    bytes.append(chunk.data());
    total = chunk.total_bytes();
    if (exported_version != nullptr) *exported_version = chunk.version();
  }
  absl::Status status = FromGrpcStatus(reader->Finish());
  if (!status.ok()) return status;
  if (total != static_cast<int64_t>(bytes.size())) {
    return absl::DataLossError(absl::StrCat("export ended after ", bytes.size(), " of ", total, " bytes"));
  }
  return bytes;
}

}  // namespace q8::client
