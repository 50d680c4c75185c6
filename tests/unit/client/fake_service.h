// Test helper: an in-process GRPCInferenceService and q8serve.v1.ModelService
// whose answers the test sets and which record the last requests they saw,
// served on 127.0.0.1 (a real socket, so message-size limits and deadlines
// apply as in production).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <vector>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "client/q8ctl/client.h"
#include "inference.grpc.pb.h"
#include "q8serve/v1/model_service.grpc.pb.h"

namespace q8::client::fake {

class FakeService final : public inference::GRPCInferenceService::Service {
 public:
  // Answers (set before the call).
  bool live = true;
  bool ready = true;
  inference::ServerMetadataResponse server_metadata;
  inference::ModelMetadataResponse model_metadata;
  inference::ModelInferResponse infer_response;
  inference::RepositoryIndexResponse index;
  grpc::Status status = grpc::Status::OK;  // returned by every RPC when not OK
  std::chrono::milliseconds delay{0};      // before answering

  // Recorded.
  inference::ModelMetadataRequest last_metadata_request;
  inference::ModelInferRequest last_infer_request;
  inference::RepositoryModelLoadRequest last_load_request;
  inference::RepositoryModelUnloadRequest last_unload_request;
  bool last_call_had_deadline = false;
  int calls = 0;

  grpc::Status ServerLive(grpc::ServerContext* c, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* r) override {
    r->set_live(live);
    return Answer(c);
  }
  grpc::Status ServerReady(grpc::ServerContext* c, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* r) override {
    r->set_ready(ready);
    return Answer(c);
  }
  grpc::Status ModelReady(grpc::ServerContext* c, const inference::ModelReadyRequest*,
                          inference::ModelReadyResponse* r) override {
    r->set_ready(ready);
    return Answer(c);
  }
  grpc::Status ServerMetadata(grpc::ServerContext* c, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* r) override {
    *r = server_metadata;
    return Answer(c);
  }
  grpc::Status ModelMetadata(grpc::ServerContext* c, const inference::ModelMetadataRequest* q,
                             inference::ModelMetadataResponse* r) override {
    last_metadata_request = *q;
    *r = model_metadata;
    return Answer(c);
  }
  grpc::Status ModelInfer(grpc::ServerContext* c, const inference::ModelInferRequest* q,
                          inference::ModelInferResponse* r) override {
    last_infer_request = *q;
    *r = infer_response;
    return Answer(c);
  }
  grpc::Status RepositoryIndex(grpc::ServerContext* c, const inference::RepositoryIndexRequest*,
                               inference::RepositoryIndexResponse* r) override {
    *r = index;
    return Answer(c);
  }
  grpc::Status RepositoryModelLoad(grpc::ServerContext* c, const inference::RepositoryModelLoadRequest* q,
                                   inference::RepositoryModelLoadResponse*) override {
    last_load_request = *q;
    return Answer(c);
  }
  grpc::Status RepositoryModelUnload(grpc::ServerContext* c, const inference::RepositoryModelUnloadRequest* q,
                                     inference::RepositoryModelUnloadResponse*) override {
    last_unload_request = *q;
    return Answer(c);
  }

 private:
  grpc::Status Answer(grpc::ServerContext* context) {
    ++calls;
    // An absent deadline shows up as (nearly) infinite_future.
    last_call_had_deadline =
        context->deadline() < std::chrono::system_clock::now() + std::chrono::hours(24 * 365);
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    return status;
  }
};

class FakeModelService final : public q8serve::v1::ModelService::Service {
 public:
  // Answers.
  std::vector<q8serve::v1::UploadEvent> progress;  // sent after the upload is received
  q8serve::v1::UploadResult result;
  std::string report_json = "{}";
  std::string exported = "onnx";
  grpc::Status status = grpc::Status::OK;  // ends every RPC when not OK (after receiving)

  // Recorded.
  q8serve::v1::UploadHeader last_header;
  std::map<std::string, std::string> last_files;
  int chunks = 0;
  q8serve::v1::GetReportRequest last_report_request;
  q8serve::v1::ExportRequest last_export_request;

  grpc::Status Upload(grpc::ServerContext*,
                      grpc::ServerReaderWriter<q8serve::v1::UploadEvent, q8serve::v1::UploadRequest>* stream) override {
    q8serve::v1::UploadRequest request;
    last_files.clear();
    chunks = 0;
    int64_t received = 0;
    while (stream->Read(&request)) {
      if (request.has_header()) {
        last_header = request.header();
        continue;
      }
      ++chunks;
      last_files[request.chunk().path()] += request.chunk().data();
      received += static_cast<int64_t>(request.chunk().data().size());
      q8serve::v1::UploadEvent event;
      event.mutable_received()->set_bytes(received);
      event.mutable_received()->set_total_bytes(last_header.total_bytes());
      stream->Write(event);
    }
    if (!status.ok()) return status;
    for (const auto& event : progress) stream->Write(event);
    q8serve::v1::UploadEvent done;
    *done.mutable_result() = result;
    stream->Write(done);
    return grpc::Status::OK;
  }
  grpc::Status GetReport(grpc::ServerContext*, const q8serve::v1::GetReportRequest* q,
                         q8serve::v1::GetReportResponse* r) override {
    last_report_request = *q;
    r->set_model_name(q->model_name());
    r->set_version(q->version() == 0 ? 1 : q->version());
    r->set_report_json(report_json);
    return status;
  }
  grpc::Status Export(grpc::ServerContext*, const q8serve::v1::ExportRequest* q,
                      grpc::ServerWriter<q8serve::v1::ExportChunk>* writer) override {
    last_export_request = *q;
    if (!status.ok()) return status;
    for (size_t off = 0; off < exported.size(); off += 3) {  // tiny chunks: reassembly is tested
      q8serve::v1::ExportChunk chunk;
      chunk.set_data(exported.substr(off, 3));
      chunk.set_total_bytes(static_cast<int64_t>(exported.size()));
      chunk.set_version(2);
      writer->Write(chunk);
    }
    return grpc::Status::OK;
  }
};

// Owns a server running a FakeService on an ephemeral local port.
class FakeServer {
 public:
  FakeServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
    builder.SetMaxSendMessageSize(kMaxMessageBytes);
    builder.RegisterService(&service_);
    builder.RegisterService(&model_service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1)); }

  FakeService& service() { return service_; }
  FakeModelService& model_service() { return model_service_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::unique_ptr<Client> NewClient(absl::Duration timeout = absl::Seconds(10)) const {
    return Client::Connect({address(), timeout});
  }

 private:
  FakeService service_;
  FakeModelService model_service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace q8::client::fake
