#include "client/q8ctl/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/client_interceptor.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/q8ctl/client.h"
#include "client/q8ctl/file_util.h"
#include "core/bearer_token.h"

namespace q8::client {
namespace {

absl::StatusOr<std::string> ReadFlagFile(const std::string& path, const char* flag) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return absl::Status(bytes.status().code(), absl::StrCat("--", flag, ": ", bytes.status().message()));
  if (bytes->empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", path, " is empty"));
  return bytes;
}

// Adds the authorization metadata to every call of the channel.
class BearerInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerInterceptor(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
};

class BearerInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerInterceptorFactory(const std::string& token) : header_(absl::StrCat("Bearer ", token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo*) override {
    return new BearerInterceptor(&header_);
  }

 private:
  const std::string header_;  // lives as long as the channel, which owns the factory
};

}  // namespace

absl::StatusOr<ChannelSecurity> LoadChannelSecurity(const ChannelSecurityFiles& files) {
  ChannelSecurity security;
  if (files.tls_cert_file.empty() != files.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert_file and --tls_key_file (a client certificate) go together");
  }
  security.tls = !files.tls_ca_file.empty() || !files.tls_cert_file.empty();
  if (!files.tls_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFlagFile(files.tls_ca_file, "tls_ca_file");
    if (!ca.ok()) return ca.status();
    security.ca_pem = *std::move(ca);
  }
  if (!files.tls_cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFlagFile(files.tls_cert_file, "tls_cert_file");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFlagFile(files.tls_key_file, "tls_key_file");
    if (!key.ok()) return key.status();
    security.cert_pem = *std::move(cert);
    security.key_pem = *std::move(key);
  }
  if (!files.token_file.empty()) {
    absl::StatusOr<std::string> text = ReadFlagFile(files.token_file, "token_file");
    if (!text.ok()) return text.status();
    absl::StatusOr<std::vector<std::string>> tokens = core::ParseTokenFile(*text);
    if (!tokens.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token_file ", files.token_file, ": ", tokens.status().message()));
    }
    security.token = tokens->front();
  }
  return security;
}

std::shared_ptr<grpc::Channel> CreateChannel(const std::string& server, const ChannelSecurity& security) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (security.tls) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = security.ca_pem;
    options.pem_private_key = security.key_pem;
    options.pem_cert_chain = security.cert_pem;
    credentials = grpc::SslCredentials(options);
  }
  if (security.token.empty()) return grpc::CreateCustomChannel(server, credentials, args);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<BearerInterceptorFactory>(security.token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(server, credentials, args, std::move(interceptors));
}

}  // namespace q8::client
