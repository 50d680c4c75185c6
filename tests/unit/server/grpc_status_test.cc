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

TEST(GrpcStatusTest, UnknownCodeBecomesUnknown) {
  absl::Status odd(static_cast<absl::StatusCode>(99), "odd");
  EXPECT_EQ(ToGrpcStatus(odd).error_code(), grpc::StatusCode::UNKNOWN);
}

}  // namespace
}  // namespace q8::server
