// The client tools' channel helper: credential files are read and checked
// up front, and the token reaches the server as `authorization: Bearer`.
#include "client/q8ctl/channel.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/synchronization/mutex.h"
#include "inference.grpc.pb.h"

namespace q8::client {
namespace {

std::string TempFile(const std::string& name, const std::string& text) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("q8_channel_" + std::to_string(::getpid()) + "_" + name)).string();
  std::ofstream(path) << text;
  return path;
}

TEST(LoadChannelSecurityTest, NothingGivenIsPlaintextWithoutToken) {
  auto security = LoadChannelSecurity({});
  ASSERT_TRUE(security.ok());
  EXPECT_FALSE(security->tls);
  EXPECT_TRUE(security->token.empty());
}

TEST(LoadChannelSecurityTest, TakesTheFirstTokenOfTheFile) {
  auto security =
      LoadChannelSecurity({.token_file = TempFile("tokens", "# c\nfirst-token-0123456789\nsecond-token-0123456789\n")});
  ASSERT_TRUE(security.ok()) << security.status();
  EXPECT_EQ(security->token, "first-token-0123456789");
  EXPECT_FALSE(security->tls);
}

TEST(LoadChannelSecurityTest, CaFileTurnsTlsOn) {
  auto security = LoadChannelSecurity({.tls_ca_file = TempFile("ca", "-----BEGIN CERTIFICATE-----\n")});
  ASSERT_TRUE(security.ok());
  EXPECT_TRUE(security->tls);
  EXPECT_EQ(security->ca_pem, "-----BEGIN CERTIFICATE-----\n");
}

TEST(LoadChannelSecurityTest, ErrorsNameTheFlag) {
  auto missing = LoadChannelSecurity({.token_file = "/nonexistent/q8/token"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("--token_file"), std::string::npos);
  auto bad_token = LoadChannelSecurity({.token_file = TempFile("short", "short\n")});
  EXPECT_EQ(bad_token.status().code(), absl::StatusCode::kInvalidArgument);
  auto empty_ca = LoadChannelSecurity({.tls_ca_file = TempFile("empty", "")});
  EXPECT_NE(empty_ca.status().message().find("--tls_ca_file"), std::string::npos);
  auto cert_only = LoadChannelSecurity({.tls_cert_file = TempFile("cert", "x")});
  EXPECT_EQ(cert_only.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cert_only.status().message().find("--tls_key_file"), std::string::npos);
}

// Records the authorization metadata of ServerLive calls.
class RecordingService final : public inference::GRPCInferenceService::Service {
 public:
  grpc::Status ServerLive(grpc::ServerContext* context, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* response) override {
    absl::MutexLock lock(&mu_);
    seen_.clear();
    const auto range = context->client_metadata().equal_range("authorization");
    for (auto it = range.first; it != range.second; ++it) seen_.emplace_back(it->second.data(), it->second.size());
    response->set_live(true);
    return grpc::Status::OK;
  }
  std::vector<std::string> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> seen_;
};

TEST(CreateChannelTest, SendsTheTokenOnEveryCallOnlyWhenGiven) {
  RecordingService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  auto live = [&](const ChannelSecurity& security) {
    auto stub = inference::GRPCInferenceService::NewStub(CreateChannel(address, security));
    for (int i = 0; i < 2; ++i) {
      grpc::ClientContext ctx;
      inference::ServerLiveResponse response;
      EXPECT_TRUE(stub->ServerLive(&ctx, {}, &response).ok());
    }
    return service.seen();
  };
  ChannelSecurity with_token;
  with_token.token = "the-token-0123456789";
  EXPECT_EQ(live(with_token), std::vector<std::string>{"Bearer the-token-0123456789"});
  EXPECT_TRUE(live({}).empty());
  server->Shutdown();
}

}  // namespace
}  // namespace q8::client
