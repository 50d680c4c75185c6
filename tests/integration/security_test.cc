// TLS, mutual TLS and bearer tokens over real sockets against the real
// q8serve binary. Certificates are made at test time with the openssl CLI:
// a self-signed server certificate (localhost, 127.0.0.1), a client CA with
// one client certificate, and a second CA whose client certificate the
// server must refuse. Clients are built with the tools' own channel helper
// (client/q8ctl/channel.h), so the token travels as the tools send it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "client/q8ctl/channel.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/prometheus_server.h"
#include "tests/integration/server_process.h"
#include "tests/integration/tool_runner.h"

namespace q8::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
constexpr char kInferToken[] = "infer-token-0123456789abcdef";

void WriteFile(const std::string& path, const std::string& bytes) {
  // Rename over the old file: a reader sees the old or the new token, never half of one.
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::binary) << bytes;
  std::filesystem::rename(tmp, path);
}

// Runs the openssl CLI; fails the test with its output on error.
::testing::AssertionResult OpenSsl(const std::vector<std::string>& args, const std::string& dir) {
  ToolResult r = RunTool("/usr/bin/openssl", args, dir);
  if (r.code == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "openssl failed (" << r.code << "): " << r.out << r.err;
}

// Key + self-signed certificate for localhost/127.0.0.1 (usable as a CA), or
// key + certificate signed by `issuer` with the X.509v3 `extensions`.
::testing::AssertionResult MakeCert(const std::string& dir, const std::string& name, const std::string& subject,
                                    const std::string& issuer = "",
                                    const std::string& extensions = "extendedKeyUsage=clientAuth\n") {
  const std::string key = dir + "/" + name + ".key", cert = dir + "/" + name + ".pem";
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
  if (issuer.empty()) {
    std::vector<std::string> args = {"req", "-x509"};
    args.insert(args.end(), ec.begin(), ec.end());
    args.insert(args.end(), {"-keyout", key, "-out", cert, "-days", "2", "-subj", subject, "-addext",
                             "subjectAltName=DNS:localhost,IP:127.0.0.1"});
    return OpenSsl(args, dir);
  }
  std::vector<std::string> args = {"req"};
  args.insert(args.end(), ec.begin(), ec.end());
  args.insert(args.end(), {"-keyout", key, "-out", dir + "/" + name + ".csr", "-subj", subject});
  if (auto r = OpenSsl(args, dir); !r) return r;
  std::ofstream(dir + "/" + name + ".ext") << extensions;
  return OpenSsl({"x509", "-req", "-in", dir + "/" + name + ".csr", "-CA", dir + "/" + issuer + ".pem", "-CAkey",
                  dir + "/" + issuer + ".key", "-CAcreateserial", "-out", cert, "-days", "2", "-extfile",
                  dir + "/" + name + ".ext"},
                 dir);
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("q8_security"));
    const std::string& d = *dir_;
    ASSERT_TRUE(MakeCert(d, "server", "/CN=localhost"));
    ASSERT_TRUE(MakeCert(d, "client_ca", "/CN=q8 test client CA"));
    ASSERT_TRUE(MakeCert(d, "client", "/CN=q8 client", "client_ca"));
    ASSERT_TRUE(MakeCert(d, "other_ca", "/CN=some other CA"));
    ASSERT_TRUE(MakeCert(d, "stranger", "/CN=stranger", "other_ca"));
    // A server certificate the client CA signed, usable as client certificate too (mTLS health probe).
    ASSERT_TRUE(MakeCert(d, "server_mtls", "/CN=localhost", "client_ca",
                         "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"));
    WriteFile(d + "/admin.token", std::string("# admin\n") + kAdminToken + "\n");
    WriteFile(d + "/infer.token", std::string(kInferToken) + "\n");
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string Path(const std::string& file) { return *dir_ + "/" + file; }
  static std::string Pem(const std::string& file) { return ReadFileOrDie(Path(file)); }

  // A q8ctl-style channel: TLS when `ca` is given (client certificate `cert`), token when given.
  static std::shared_ptr<grpc::Channel> Channel(const ServerProcess& server, const std::string& token,
                                                const std::string& ca = "", const std::string& cert = "") {
    client::ChannelSecurity security;
    security.token = token;
    security.tls = !ca.empty();
    if (!ca.empty()) security.ca_pem = Pem(ca + ".pem");
    if (!cert.empty()) {
      security.cert_pem = Pem(cert + ".pem");
      security.key_pem = Pem(cert + ".key");
    }
    return client::CreateChannel(server.address(), security);
  }

  static std::shared_ptr<grpc::ChannelCredentials> TrustServer() {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Pem("server.pem");
    return grpc::SslCredentials(options);
  }

  static std::string Repo() { return MakeTempDir("q8_security_repo"); }

  static std::string* dir_;
};
std::string* SecurityTest::dir_ = nullptr;

grpc::StatusCode LiveCode(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  inference::ServerLiveResponse response;
  return stub->ServerLive(&ctx, {}, &response).error_code();
}

grpc::Status HealthOf(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status s = stub->Check(&ctx, {}, &response);
  if (s.ok() && response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not SERVING");
  }
  return s;
}

grpc::Status Index(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  inference::RepositoryIndexResponse response;
  return stub->RepositoryIndex(&ctx, {}, &response);
}

// One call of `method` with an empty request message, whatever its type
// (streaming methods get one message and a half-close): what the server
// answers before it reads anything.
grpc::Status CallEmpty(const std::shared_ptr<grpc::Channel>& channel, const std::string& method) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::Slice empty("", 0);
  grpc::ByteBuffer request(&empty, 1), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

// Every method of q8serve's two services, from the generated descriptors:
// a method added to a proto without an access decision fails here.
std::vector<std::pair<std::string, std::string>> AllMethods() {
  std::vector<std::pair<std::string, std::string>> out;  // (full name "/svc/m", short name)
  for (const char* service : {"inference.GRPCInferenceService", "q8serve.v1.ModelService"}) {
    const auto* d = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    EXPECT_NE(d, nullptr) << service;
    if (d == nullptr) continue;
    for (int i = 0; i < d->method_count(); ++i) {
      out.emplace_back("/" + d->full_name() + "/" + d->method(i)->name(), d->method(i)->name());
    }
  }
  return out;
}

const std::set<std::string> kAdminMethods = {"RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload",
                                             "Upload", "Export"};
const std::set<std::string> kOpenMethods = {"ServerLive", "ServerReady"};
const std::set<std::string> kInferenceMethods = {"ModelReady", "ServerMetadata",  "ModelMetadata",
                                                 "ModelInfer", "ModelStatistics", "GetReport"};

TEST_F(SecurityTest, EveryMethodNeedsItsTokenAndHealthStaysOpen) {
  ServerProcess server;
  ASSERT_TRUE(
      server.Start(Repo(), {"--admin_token_file=" + Path("admin.token"), "--infer_token_file=" + Path("infer.token")}));
  const auto none = Channel(server, "");
  const auto wrong = Channel(server, "wrong-token-0123456789abcdef");
  const auto admin = Channel(server, kAdminToken);
  const auto infer = Channel(server, kInferToken);
  const auto methods = AllMethods();
  ASSERT_EQ(methods.size(), 13u);
  for (const auto& [full, name] : methods) {
    SCOPED_TRACE(full);
    const bool is_admin = kAdminMethods.count(name) > 0, is_open = kOpenMethods.count(name) > 0;
    ASSERT_TRUE(is_admin || is_open || kInferenceMethods.count(name) > 0) << "no access decision for " << name;
    const grpc::Status no_token = CallEmpty(none, full);
    const grpc::Status bad_token = CallEmpty(wrong, full);
    const grpc::Status admin_token = CallEmpty(admin, full);
    const grpc::Status infer_token = CallEmpty(infer, full);
    if (is_open) {
      EXPECT_TRUE(no_token.ok()) << no_token.error_message();
      continue;
    }
    EXPECT_EQ(no_token.error_code(), grpc::StatusCode::UNAUTHENTICATED) << no_token.error_message();
    EXPECT_THAT(no_token.error_message(), HasSubstr("authorization: Bearer <token>"));
    EXPECT_EQ(bad_token.error_code(), grpc::StatusCode::UNAUTHENTICATED) << bad_token.error_message();
    EXPECT_THAT(bad_token.error_message(), Not(HasSubstr("wrong-token")));
    // The right token gets past the guard (the empty request then fails on its own merits, or not).
    // The right token gets past the guard (the empty request then fails on its own merits, or not);
    // the admin token opens inference RPCs too, the inference token never opens management.
    EXPECT_NE(admin_token.error_code(), grpc::StatusCode::UNAUTHENTICATED) << admin_token.error_message();
    if (is_admin) {
      EXPECT_EQ(infer_token.error_code(), grpc::StatusCode::UNAUTHENTICATED) << infer_token.error_message();
    } else {
      EXPECT_NE(infer_token.error_code(), grpc::StatusCode::UNAUTHENTICATED) << infer_token.error_message();
    }
  }
  EXPECT_TRUE(HealthOf(none).ok());
  EXPECT_THAT(server.Log(), Not(HasSubstr(kAdminToken)));
  EXPECT_THAT(server.Log(), Not(HasSubstr("wrong-token")));
}

TEST_F(SecurityTest, RightTokensUploadAndInferWrongOnesChangeNothing) {
  ServerProcess server;
  ASSERT_TRUE(
      server.Start(Repo(), {"--admin_token_file=" + Path("admin.token"), "--infer_token_file=" + Path("infer.token")}));
  const std::string onnx = ReadFileOrDie(TestDataPath("fashion_cnn.onnx"));
  auto no_token = inference::GRPCInferenceService::NewStub(Channel(server, ""));
  auto admin = inference::GRPCInferenceService::NewStub(Channel(server, kAdminToken));
  auto infer = inference::GRPCInferenceService::NewStub(Channel(server, kInferToken));
  EXPECT_EQ(UploadModel(*no_token, "cnn", onnx).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(UploadModel(*infer, "cnn", onnx).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(UploadModel(*admin, "cnn", onnx).ok());

  const inference::ModelInferRequest request = ImageRequest("cnn", TestImages(), 0, 2, true);
  inference::ModelInferResponse response;
  EXPECT_EQ(Infer(*no_token, request, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(Infer(*infer, request, &response).ok());
  EXPECT_EQ(Logits(response).size(), 20u);

  // Unload refused without the admin token: the model keeps serving.
  EXPECT_EQ(Unload(*infer, "cnn").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(Infer(*infer, request, &response).ok());
  EXPECT_TRUE(Unload(*admin, "cnn").ok());
}

TEST_F(SecurityTest, OnlyTheAdminTokenSetLeavesInferenceOpen) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(Repo(), {"--admin_token_file=" + Path("admin.token")}));
  EXPECT_EQ(CallEmpty(Channel(server, ""), "/inference.GRPCInferenceService/ServerMetadata").error_code(),
            grpc::StatusCode::OK);
  EXPECT_EQ(Index(Channel(server, "")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Index(Channel(server, kAdminToken)).ok());
}

// Waits until `channel`'s index call gets `code` (token files are re-read asynchronously).
bool EventuallyIndex(const std::shared_ptr<grpc::Channel>& channel, grpc::StatusCode code, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Index(channel).error_code() == code) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST_F(SecurityTest, RewrittenTokenFileRotatesTheToken) {
  const std::string token_file = MakeTempDir("q8_security_rotate") + "/admin.token";
  WriteFile(token_file, std::string(kAdminToken) + "\n");
  ServerProcess server;
  ASSERT_TRUE(server.Start(Repo(), {"--admin_token_file=" + token_file}));
  const auto old_token = Channel(server, kAdminToken);
  const auto new_token = Channel(server, "rotated-token-0123456789abcdef");
  ASSERT_TRUE(Index(old_token).ok());
  ASSERT_EQ(Index(new_token).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  WriteFile(token_file, "rotated-token-0123456789abcdef\n");
  EXPECT_TRUE(EventuallyIndex(new_token, grpc::StatusCode::OK, 10)) << server.Log();
  EXPECT_EQ(Index(old_token).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // A broken rewrite keeps the current token (and is logged, without it).
  WriteFile(token_file, "short\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_TRUE(Index(new_token).ok());
  EXPECT_THAT(server.Log(), HasSubstr("keeping the previous tokens"));
  EXPECT_THAT(server.Log(), Not(HasSubstr("rotated-token")));
}

TEST_F(SecurityTest, SighupRotatesTheToken) {
  const std::string token_file = MakeTempDir("q8_security_hup") + "/admin.token";
  WriteFile(token_file, std::string(kAdminToken) + "\n");
  ServerProcess server;
  // No periodic checks: only SIGHUP can pick up the new file.
  ASSERT_TRUE(server.Start(Repo(), {"--admin_token_file=" + token_file, "--token_check_seconds=0"}));
  const auto old_token = Channel(server, kAdminToken);
  const auto new_token = Channel(server, "hupped-token-0123456789abcdef");
  WriteFile(token_file, "hupped-token-0123456789abcdef\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(Index(new_token).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Index(old_token).ok());
  server.Signal(SIGHUP);
  EXPECT_TRUE(EventuallyIndex(new_token, grpc::StatusCode::OK, 10)) << server.Log();
  EXPECT_EQ(Index(old_token).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(server.running());
}

TEST_F(SecurityTest, TlsServerRefusesPlaintextAndServesTrustingClients) {
  ServerProcess server;
  server.set_channel_credentials(TrustServer());
  ASSERT_TRUE(server.Start(Repo(), {"--tls_cert_file=" + Path("server.pem"), "--tls_key_file=" + Path("server.key")}));
  EXPECT_THAT(server.Log(), HasSubstr(", TLS"));
  EXPECT_NE(LiveCode(Channel(server, "")), grpc::StatusCode::OK) << "plaintext client to a TLS server";
  EXPECT_EQ(LiveCode(Channel(server, "", "server")), grpc::StatusCode::OK);
  EXPECT_TRUE(HealthOf(Channel(server, "", "server")).ok());
  EXPECT_NE(LiveCode(Channel(server, "", "other_ca")), grpc::StatusCode::OK) << "client trusting another CA";
}

TEST_F(SecurityTest, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  ServerProcess server;
  server.set_channel_credentials(grpc::SslCredentials({Pem("server.pem"), Pem("client.key"), Pem("client.pem")}));
  ASSERT_TRUE(server.Start(Repo(), {"--tls_cert_file=" + Path("server.pem"), "--tls_key_file=" + Path("server.key"),
                                    "--tls_client_ca_file=" + Path("client_ca.pem")}));
  EXPECT_NE(LiveCode(Channel(server, "", "server")), grpc::StatusCode::OK) << "no client certificate";
  EXPECT_NE(LiveCode(Channel(server, "", "server", "stranger")), grpc::StatusCode::OK) << "certificate of another CA";
  EXPECT_EQ(LiveCode(Channel(server, "", "server", "client")), grpc::StatusCode::OK);
  EXPECT_NE(LiveCode(Channel(server, "")), grpc::StatusCode::OK) << "plaintext";
}

TEST_F(SecurityTest, Q8ctlWithTokenAndCaFile) {
  ServerProcess server;
  server.set_channel_credentials(TrustServer());
  ASSERT_TRUE(
      server.Start(Repo(), {"--tls_cert_file=" + Path("server.pem"), "--tls_key_file=" + Path("server.key"),
                            "--admin_token_file=" + Path("admin.token"), "--infer_token_file=" + Path("infer.token")}));
  const std::string tmp = MakeTempDir("q8_security_ctl");
  const std::string model = TestDataPath("fashion_cnn.onnx");
  std::ofstream(tmp + "/fp32.json") << kFp32Config;
  auto q8ctl = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--server=" + server.address(), "--timeout_seconds=120"});
    return RunTool(Q8CTL_BINARY, std::move(args), tmp);
  };
  const std::string ca = "--tls_ca_file=" + Path("server.pem"), token = "--token_file=" + Path("admin.token");
  ToolResult up = q8ctl({"upload", "cnn", model, "--config", tmp + "/fp32.json", ca, token});
  EXPECT_EQ(up.code, 0) << up.out << up.err;
  ToolResult list = q8ctl({"list", ca, token});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("cnn"));
  EXPECT_THAT(list.err, Not(HasSubstr("without TLS")));

  ToolResult no_token = q8ctl({"list", ca});
  EXPECT_NE(no_token.code, 0);
  EXPECT_THAT(no_token.err, HasSubstr("UNAUTHENTICATED"));
  ToolResult no_tls = q8ctl({"list", token});
  EXPECT_NE(no_tls.code, 0);
  EXPECT_THAT(no_tls.err, HasSubstr("without TLS"));
  ToolResult missing = q8ctl({"list", ca, "--token_file=" + tmp + "/nope"});
  EXPECT_EQ(missing.code, 2) << missing.err;
  EXPECT_THAT(missing.err, HasSubstr("--token_file"));

  ToolResult bench =
      RunTool(Q8BENCH_BINARY,
              {"--server=" + server.address(), "--model=cnn", "--concurrency=1", "--warmup_ms=100", "--window_ms=200",
               "--max_windows=3", "--progress=false", ca, "--token_file=" + Path("infer.token")},
              tmp);
  EXPECT_EQ(bench.code, 0) << bench.out << bench.err;
  ToolResult bench_no_token =
      RunTool(Q8BENCH_BINARY, {"--server=" + server.address(), "--model=cnn", "--progress=false", ca}, tmp);
  EXPECT_EQ(bench_no_token.code, 1);
  EXPECT_THAT(bench_no_token.err, HasSubstr("UNAUTHENTICATED"));
}

TEST_F(SecurityTest, HealthProbeSpeaksTls) {
  ServerProcess server;
  server.set_channel_credentials(TrustServer());
  const std::vector<std::string> tls = {"--tls_cert_file=" + Path("server.pem"),
                                        "--tls_key_file=" + Path("server.key")};
  ASSERT_TRUE(server.Start(Repo(), tls));
  const std::string tmp = MakeTempDir("q8_security_probe");
  std::vector<std::string> probe = {
      "--health_probe", "--grpc_address=0.0.0.0:" + server.address().substr(server.address().rfind(':') + 1)};
  ToolResult plaintext = RunTool(ServerBinary(), probe, tmp);
  EXPECT_EQ(plaintext.code, 1) << plaintext.err;
  probe.insert(probe.end(), tls.begin(), tls.end());
  ToolResult over_tls = RunTool(ServerBinary(), probe, tmp);
  EXPECT_EQ(over_tls.code, 0) << over_tls.err;
  EXPECT_THAT(over_tls.err, HasSubstr("SERVING"));
}

bool Connects(const char* ip, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip, &addr.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

TEST_F(SecurityTest, HealthProbeUnderMutualTlsPresentsTheServerCertificate) {
  ServerProcess server;
  server.set_channel_credentials(grpc::SslCredentials({Pem("client_ca.pem"), Pem("client.key"), Pem("client.pem")}));
  const std::vector<std::string> tls = {"--tls_cert_file=" + Path("server_mtls.pem"),
                                        "--tls_key_file=" + Path("server_mtls.key")};
  std::vector<std::string> flags = tls;
  flags.push_back("--tls_client_ca_file=" + Path("client_ca.pem"));
  ASSERT_TRUE(server.Start(Repo(), flags));
  const std::string tmp = MakeTempDir("q8_security_mtls_probe");
  std::vector<std::string> probe = {"--health_probe", "--grpc_address=" + server.address(),
                                    "--health_probe_ca_file=" + Path("client_ca.pem")};
  probe.insert(probe.end(), tls.begin(), tls.end());
  ToolResult without_client_cert = RunTool(ServerBinary(), probe, tmp);
  EXPECT_EQ(without_client_cert.code, 1) << without_client_cert.err;
  probe.push_back("--tls_client_ca_file=" + Path("client_ca.pem"));
  ToolResult with_client_cert = RunTool(ServerBinary(), probe, tmp);
  EXPECT_EQ(with_client_cert.code, 0) << with_client_cert.err;
}

// Bad security flags stop the server at startup with a message naming the flag.
TEST_F(SecurityTest, BadCertificatesAndTokenFilesAreStartupErrors) {
  const std::string tmp = MakeTempDir("q8_security_bad");
  WriteFile(tmp + "/empty.token", "\n# nothing\n");
  WriteFile(tmp + "/not.pem", "hello\n");
  const std::string repo = Repo();
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--tls_cert_file=" + tmp + "/missing.pem", "--tls_key_file=" + Path("server.key")}, "--tls_cert_file"},
      {{"--tls_cert_file=" + Path("server.pem")}, "--tls_key_file"},
      {{"--tls_cert_file=" + tmp + "/not.pem", "--tls_key_file=" + Path("server.key")}, "no PEM certificate"},
      {{"--tls_cert_file=" + Path("server.pem"), "--tls_key_file=" + Path("client.key")}, "is not the key of"},
      {{"--tls_cert_file=" + Path("server.pem"), "--tls_key_file=" + Path("server.key"),
        "--tls_client_ca_file=" + tmp + "/not.pem"},
       "--tls_client_ca_file"},
      {{"--admin_token_file=" + tmp + "/empty.token"}, "--admin_token_file"},
      {{"--infer_token_file=" + tmp + "/missing.token"}, "--infer_token_file"},
      {{"--metrics_address=127.0.0.1:9000"}, "--metrics_address"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"--grpc_address=127.0.0.1:0", "--metrics_port=0", "--model_repository=" + repo};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    ToolResult r = RunTool(ServerBinary(), args, tmp);
    EXPECT_NE(r.code, 0) << c.message;
    EXPECT_THAT(r.err + r.out, HasSubstr(c.message));
  }
}

TEST_F(SecurityTest, MetricsBindTheGivenAddress) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(Repo(), {"--metrics_address=127.0.0.1"}));
  EXPECT_THAT(server.Log(), HasSubstr("metrics listening on 127.0.0.1:"));
  const int port = server.MetricsPort();
  ASSERT_GT(port, 0);
  std::string scrape;
  EXPECT_EQ(HttpGet(port, "/metrics", &scrape), 200);
  EXPECT_THAT(scrape, HasSubstr("process_threads"));
  // Bound to 127.0.0.1 only: 127.0.0.2 (also this host's loopback) is refused,
  // where the default 0.0.0.0 would accept it.
  EXPECT_TRUE(Connects("127.0.0.1", port));
  EXPECT_FALSE(Connects("127.0.0.2", port));
}

}  // namespace
}  // namespace q8::testing
