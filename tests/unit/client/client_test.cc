// Client against an in-process fake service: results, status conversion,
// deadlines on every call, and the 1 GiB message limits.
#include "client/q8ctl/client.h"

#include <gtest/gtest.h>

#include "client/q8ctl/requests.h"
#include "tests/unit/client/fake_service.h"

namespace q8::client {
namespace {

using fake::FakeServer;
using fake::FakeService;

TEST(ClientTest, HealthAndMetadata) {
  FakeServer server;
  server.service().ready = false;
  server.service().server_metadata.set_name("q8serve");
  auto client = server.NewClient();
  EXPECT_EQ(client->ServerLive().value(), true);
  EXPECT_EQ(client->ServerReady().value(), false);
  EXPECT_EQ(client->ServerMetadata()->name(), "q8serve");
}

TEST(ClientTest, RequestsCarryNameAndVersion) {
  FakeServer server;
  server.service().model_metadata.set_platform("onnx_int8");
  auto client = server.NewClient();
  absl::StatusOr<inference::ModelMetadataResponse> metadata = client->ModelMetadata("m", "2");
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_EQ(metadata->platform(), "onnx_int8");
  EXPECT_EQ(server.service().last_metadata_request.name(), "m");
  EXPECT_EQ(server.service().last_metadata_request.version(), "2");
  ASSERT_TRUE(client->RepositoryModelUnload("gone").ok());
  EXPECT_EQ(server.service().last_unload_request.model_name(), "gone");
}

TEST(ClientTest, ServerErrorsBecomeAbslStatus) {
  FakeServer server;
  server.service().status = grpc::Status(grpc::StatusCode::NOT_FOUND, "model 'x' is not loaded");
  auto client = server.NewClient();
  EXPECT_EQ(client->ModelMetadata("x", "").status(), absl::NotFoundError("model 'x' is not loaded"));
  EXPECT_EQ(client->RepositoryModelUnload("x"), absl::NotFoundError("model 'x' is not loaded"));
  EXPECT_EQ(client->ServerLive().status().code(), absl::StatusCode::kNotFound);
}

TEST(ClientTest, EveryCallHasADeadline) {
  FakeServer server;
  auto client = server.NewClient(absl::Seconds(30));
  auto check = [&server](const char* what, const absl::Status& status) {
    EXPECT_TRUE(status.ok()) << what << ": " << status;
    EXPECT_TRUE(server.service().last_call_had_deadline) << what;
    server.service().last_call_had_deadline = false;
  };
  check("ServerLive", client->ServerLive().status());
  check("ServerReady", client->ServerReady().status());
  check("ModelReady", client->ModelReady("m", "").status());
  check("ServerMetadata", client->ServerMetadata().status());
  check("ModelMetadata", client->ModelMetadata("m", "").status());
  check("ModelInfer", client->ModelInfer(inference::ModelInferRequest()).status());
  check("RepositoryIndex", client->RepositoryIndex().status());
  check("RepositoryModelLoad", client->RepositoryModelLoad(inference::RepositoryModelLoadRequest()));
  check("RepositoryModelUnload", client->RepositoryModelUnload("m"));
  EXPECT_EQ(server.service().calls, 9);
}

TEST(ClientTest, SlowServerHitsTheDeadline) {
  FakeServer server;
  server.service().delay = std::chrono::milliseconds(500);
  auto client = server.NewClient(absl::Milliseconds(50));
  EXPECT_EQ(client->ServerLive().status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(ClientTest, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there.
  auto client = Client::Connect({"127.0.0.1:1", absl::Seconds(5)});
  EXPECT_EQ(client->ServerLive().status().code(), absl::StatusCode::kUnavailable);
}

TEST(ClientTest, MessagesLargerThanGrpcDefaultsPass) {
  // gRPC's default receive limit is 4 MiB; both directions must go well beyond.
  constexpr size_t kBig = 12 << 20;
  FakeServer server;
  auto* out = server.service().infer_response.add_outputs();
  out->set_name("y");
  out->set_datatype("UINT8");
  out->add_shape(static_cast<int64_t>(kBig));
  server.service().infer_response.add_raw_output_contents(std::string(kBig, '\x7f'));
  auto client = server.NewClient();

  ASSERT_TRUE(client->RepositoryModelLoad(BuildLoadRequest("big", 1, std::string(kBig, 'x'), "{}")).ok());
  EXPECT_EQ(server.service().last_load_request.parameters().at("file:1/model.onnx").bytes_param().size(), kBig);

  absl::StatusOr<inference::ModelInferResponse> response = client->ModelInfer(inference::ModelInferRequest());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->raw_output_contents(0).size(), kBig);
}

}  // namespace
}  // namespace q8::client
