// HealthService over a real gRPC server on loopback: Check's states and
// NOT_FOUND, Watch's first status and updates, the end of everything at
// Shutdown, and the bound on concurrent Watch streams.
#include "server/health.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace q8::server {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class HealthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    stub_ = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(std::chrono::system_clock::now()); }

  grpc::Status Check(const std::string& name, HealthCheckResponse::ServingStatus* status) {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service(name);
    HealthCheckResponse response;
    grpc::Status s = stub_->Check(&context, request, &response);
    *status = response.status();
    return s;
  }

  struct Watcher {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader;
    HealthCheckResponse::ServingStatus Next() {
      HealthCheckResponse response;
      return reader->Read(&response) ? response.status() : HealthCheckResponse::UNKNOWN;
    }
  };
  std::unique_ptr<Watcher> Watch(const std::string& name) {
    auto w = std::make_unique<Watcher>();
    w->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    HealthCheckRequest request;
    request.set_service(name);
    w->reader = stub_->Watch(&w->context, request);
    return w;
  }

  HealthService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::health::v1::Health::Stub> stub_;
};

TEST_F(HealthServiceTest, CheckFollowsServerAndModelReadiness) {
  HealthCheckResponse::ServingStatus status{};
  ASSERT_TRUE(Check("", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);  // until the startup loads finish
  service_.SetServerReady(true);
  ASSERT_TRUE(Check("", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::SERVING);

  grpc::Status unknown = Check("fashion", &status);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(unknown.error_message().find("'fashion'"), std::string::npos) << unknown.error_message();
  service_.SetModelReady("fashion", true);
  ASSERT_TRUE(Check("fashion", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::SERVING);
  service_.SetModelReady("fashion", false);
  ASSERT_TRUE(Check("fashion", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
}

TEST_F(HealthServiceTest, WatchSendsTheStatusThenEveryChange) {
  auto server = Watch("");
  EXPECT_EQ(server->Next(), HealthCheckResponse::NOT_SERVING);
  auto model = Watch("fashion");
  EXPECT_EQ(model->Next(), HealthCheckResponse::SERVICE_UNKNOWN);
  service_.SetServerReady(true);
  EXPECT_EQ(server->Next(), HealthCheckResponse::SERVING);
  service_.SetModelReady("fashion", true);
  EXPECT_EQ(model->Next(), HealthCheckResponse::SERVING);
  // A name that first appears as not serving (a failed load) is news too.
  auto failed = Watch("broken");
  EXPECT_EQ(failed->Next(), HealthCheckResponse::SERVICE_UNKNOWN);
  service_.SetModelReady("broken", false);
  EXPECT_EQ(failed->Next(), HealthCheckResponse::NOT_SERVING);
  failed->context.TryCancel();
  service_.Shutdown();
  EXPECT_EQ(server->Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(model->Next(), HealthCheckResponse::NOT_SERVING);
  server->context.TryCancel();
  model->context.TryCancel();
}

TEST_F(HealthServiceTest, ShutdownIsPermanent) {
  service_.SetServerReady(true);
  service_.SetModelReady("fashion", true);
  service_.Shutdown();
  service_.SetServerReady(true);  // ignored: the server is draining
  HealthCheckResponse::ServingStatus status{};
  ASSERT_TRUE(Check("", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(Check("fashion", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
}

TEST_F(HealthServiceTest, WatchStreamsAreBounded) {
  std::vector<std::unique_ptr<Watcher>> open;
  for (int i = 0; i < HealthService::kMaxWatches; ++i) {
    open.push_back(Watch(""));
    ASSERT_EQ(open.back()->Next(), HealthCheckResponse::NOT_SERVING) << "watch " << i;
  }
  auto refused = Watch("");
  HealthCheckResponse response;
  EXPECT_FALSE(refused->reader->Read(&response));
  grpc::Status s = refused->reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  // A watcher that leaves frees its place.
  open.back()->context.TryCancel();
  open.back()->reader->Finish();
  open.pop_back();
  bool admitted = false;
  for (int attempt = 0; attempt < 50 && !admitted; ++attempt) {  // the server notices within kWatchPoll
    auto again = Watch("");
    admitted = again->Next() == HealthCheckResponse::NOT_SERVING;
    if (admitted) {
      again->context.TryCancel();
      again->reader->Finish();
    } else {
      again->reader->Finish();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  EXPECT_TRUE(admitted);
  for (auto& w : open) w->context.TryCancel();
  for (auto& w : open) w->reader->Finish();
}

}  // namespace
}  // namespace q8::server
