// Test helper: an in-process GRPCInferenceService whose answers the test sets
// and which records the last requests it saw, served on 127.0.0.1 (a real
// socket, so message-size limits and deadlines apply as in production).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "client/q8ctl/client.h"
#include "inference.grpc.pb.h"

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

// Owns a server running a FakeService on an ephemeral local port.
class FakeServer {
 public:
  FakeServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
    builder.SetMaxSendMessageSize(kMaxMessageBytes);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1)); }

  FakeService& service() { return service_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::unique_ptr<Client> NewClient(absl::Duration timeout = absl::Seconds(10)) const {
    return Client::Connect({address(), timeout});
  }

 private:
  FakeService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace q8::client::fake
