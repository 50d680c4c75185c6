#include "server/grpc_status.h"

#include "gtest/gtest.h"

namespace q8::server {
namespace {

TEST(GrpcStatusTest, OkMapsToOk) { EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok()); }

TEST(GrpcStatusTest, CodesAndMessagesCarryOver) {
  const std::pair<absl::Status, grpc::StatusCode> cases[] = {
      {absl::InvalidArgumentError("bad shape"), grpc::StatusCode::INVALID_ARGUMENT},
      {absl::NotFoundError("model 'x' not found"), grpc::StatusCode::NOT_FOUND},
      {absl::AbortedError("busy"), grpc::StatusCode::ABORTED},
      {absl::ResourceExhaustedError("too big"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::FailedPreconditionError("fp"), grpc::StatusCode::FAILED_PRECONDITION},
      {absl::UnavailableError("starting"), grpc::StatusCode::UNAVAILABLE},
      {absl::DeadlineExceededError("late"), grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::InternalError("oops"), grpc::StatusCode::INTERNAL},
      {absl::UnauthenticatedError("who"), grpc::StatusCode::UNAUTHENTICATED},
  };
  for (const auto& [in, code] : cases) {
    grpc::Status out = ToGrpcStatus(in);
    EXPECT_EQ(out.error_code(), code) << in;
    EXPECT_EQ(out.error_message(), std::string(in.message()));
  }
}

TEST(GrpcStatusTest, NoHandlerAnswersUnknown) {
  // Issue 11: an UNKNOWN tells a client nothing; ours are INTERNAL.
  absl::Status odd(static_cast<absl::StatusCode>(99), "odd");
  EXPECT_EQ(ToGrpcStatus(odd).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(ToGrpcStatus(absl::UnknownError("what")).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(ToGrpcStatus(absl::UnknownError("what")).error_message(), "what");
}

TEST(GrpcStatusTest, MessagesAreBounded) {
  const std::string huge(1 << 20, 'm');
  grpc::Status out = ToGrpcStatus(absl::NotFoundError(huge));
  EXPECT_EQ(out.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(out.error_message().size(), kMaxStatusMessageChars + 64);
  EXPECT_EQ(out.error_message().substr(0, 100), huge.substr(0, 100));
  EXPECT_NE(out.error_message().find("more bytes]"), std::string::npos);
}

}  // namespace
}  // namespace q8::server
