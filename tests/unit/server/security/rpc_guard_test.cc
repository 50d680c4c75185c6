// The access table against the generated service descriptors, and the
// guard's decisions for every class of RPC.
#include "server/security/rpc_guard.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "inference.grpc.pb.h"
#include "q8serve/v1/model_service.grpc.pb.h"
#include "server/security/rpc_access.h"

namespace q8::server::security {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Through a message of each proto file, which also links its descriptors in.
std::vector<std::string> DescriptorMethods() {
  std::vector<std::string> out;
  for (const google::protobuf::ServiceDescriptor* service :
       {inference::ModelInferRequest::descriptor()->file()->FindServiceByName("GRPCInferenceService"),
        q8serve::v1::UploadRequest::descriptor()->file()->FindServiceByName("ModelService")}) {
    EXPECT_NE(service, nullptr);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      out.push_back("/" + service->full_name() + "/" + service->method(i)->name());
    }
  }
  return out;
}

TEST(RpcAccessTest, EveryServedMethodHasARuleAndEveryRuleAMethod) {
  const std::vector<std::string> served = DescriptorMethods();
  ASSERT_GE(served.size(), 13u);
  for (const std::string& method : served) EXPECT_TRUE(AccessOf(method).has_value()) << method << " has no rule";
  const std::set<std::string> served_set(served.begin(), served.end());
  for (const std::string& method : GuardedMethods()) EXPECT_EQ(served_set.count(method), 1u) << method;
  EXPECT_EQ(GuardedMethods().size(), served.size());
}

TEST(RpcAccessTest, ManagementMethodsNeedTheAdminToken) {
  for (const char* method :
       {rpc::kRepositoryIndex, rpc::kRepositoryModelLoad, rpc::kRepositoryModelUnload, rpc::kUpload, rpc::kExport}) {
    EXPECT_EQ(AccessOf(method), RpcAccess::kAdmin) << method;
  }
  for (const char* method : {rpc::kModelInfer, rpc::kModelMetadata, rpc::kModelReady, rpc::kModelStatistics,
                             rpc::kServerMetadata, rpc::kGetReport}) {
    EXPECT_EQ(AccessOf(method), RpcAccess::kInference) << method;
  }
  EXPECT_EQ(AccessOf(rpc::kServerLive), RpcAccess::kOpen);
  EXPECT_EQ(AccessOf(rpc::kServerReady), RpcAccess::kOpen);
  EXPECT_EQ(AccessOf("/grpc.health.v1.Health/Check"), std::nullopt);
  EXPECT_EQ(AccessOf("/inference.GRPCInferenceService/modelinfer"), std::nullopt);
}

class RpcGuardTest : public ::testing::Test {
 protected:
  static std::string WriteTokenFile(const std::string& name, const std::string& token) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("q8_guard_" + std::to_string(::getpid()) + "_" + name)).string();
    std::ofstream(path) << token << "\n";
    return path;
  }
  static std::unique_ptr<RpcGuard> Guard(bool admin, bool inference) {
    SecurityOptions options;
    if (admin) options.admin_token_file = WriteTokenFile("admin", "admin-token-0123456789");
    if (inference) options.infer_token_file = WriteTokenFile("infer", "infer-token-0123456789");
    auto guard = RpcGuard::Create(options);
    EXPECT_TRUE(guard.ok()) << guard.status();
    return guard.ok() ? *std::move(guard) : nullptr;
  }
};

TEST_F(RpcGuardTest, AdminTokenGuardsOnlyManagement) {
  auto guard = Guard(true, false);
  ASSERT_NE(guard, nullptr);
  const absl::Status missing = guard->AuthorizeValues({}, rpc::kRepositoryModelUnload);
  EXPECT_EQ(missing.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(missing.message(), HasSubstr("RepositoryModelUnload needs the admin token"));
  const absl::Status wrong = guard->AuthorizeValues({"Bearer guess-0123456789abcdef"}, rpc::kUpload);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(wrong.message(), Not(HasSubstr("guess")));
  EXPECT_EQ(guard->AuthorizeValues({"admin-token-0123456789"}, rpc::kUpload).code(), absl::StatusCode::kUnauthenticated)
      << "the scheme is required";
  EXPECT_TRUE(guard->AuthorizeValues({"Bearer admin-token-0123456789"}, rpc::kExport).ok());
  EXPECT_TRUE(guard->AuthorizeValues({"bearer admin-token-0123456789"}, rpc::kRepositoryIndex).ok());
  // One valid value among several is enough.
  EXPECT_TRUE(guard->AuthorizeValues({"Basic x", "Bearer admin-token-0123456789"}, rpc::kUpload).ok());
  EXPECT_TRUE(guard->AuthorizeValues({}, rpc::kModelInfer).ok());
  EXPECT_TRUE(guard->AuthorizeValues({}, rpc::kServerLive).ok());
}

TEST_F(RpcGuardTest, InferenceTokenGuardsInferenceAndOnlyTheAdminTokenOpensBoth) {
  auto guard = Guard(true, true);
  ASSERT_NE(guard, nullptr);
  EXPECT_EQ(guard->AuthorizeValues({}, rpc::kModelInfer).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(guard->AuthorizeValues({"Bearer infer-token-0123456789"}, rpc::kModelInfer).ok());
  EXPECT_TRUE(guard->AuthorizeValues({"Bearer admin-token-0123456789"}, rpc::kModelInfer).ok());
  EXPECT_EQ(guard->AuthorizeValues({"Bearer wrong-token-0123456789"}, rpc::kModelInfer).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(guard->AuthorizeValues({"Bearer infer-token-0123456789"}, rpc::kRepositoryModelLoad).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(guard->AuthorizeValues({}, rpc::kServerReady).ok());
}

TEST_F(RpcGuardTest, UnknownMethodsAreRefusedEvenWithoutTokens) {
  auto guard = Guard(false, false);
  ASSERT_NE(guard, nullptr);
  EXPECT_EQ(guard->AuthorizeValues({}, "/inference.GRPCInferenceService/NewRpc").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(guard->AuthorizeValues({}, rpc::kRepositoryModelLoad).ok());
}

TEST_F(RpcGuardTest, CreateNamesTheFlagOfABadFile) {
  SecurityOptions options;
  options.infer_token_file = "/nonexistent/q8/token";
  auto guard = RpcGuard::Create(options);
  EXPECT_EQ(guard.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(guard.status().message(), HasSubstr("--infer_token_file"));
}

}  // namespace
}  // namespace q8::server::security
