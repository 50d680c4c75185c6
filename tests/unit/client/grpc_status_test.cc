// grpc::Status -> absl::Status: every code, message kept, OK stays OK.
#include "client/q8ctl/grpc_status.h"

#include <gtest/gtest.h>

namespace q8::client {
namespace {

TEST(GrpcStatusTest, OkIsOk) { EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok()); }

TEST(GrpcStatusTest, EveryCodeKeepsItsNumberAndMessage) {
  for (int code = 1; code <= 16; ++code) {
    const grpc::Status in(static_cast<grpc::StatusCode>(code), "boom " + std::to_string(code));
    const absl::Status out = FromGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(out.code()), code);
    EXPECT_EQ(out.message(), "boom " + std::to_string(code));
  }
}

TEST(GrpcStatusTest, NamedCodes) {
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no model")),
            absl::NotFoundError("no model"));
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "late")).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "big")).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")).code(),
            absl::StatusCode::kUnavailable);
}

TEST(GrpcStatusTest, OutOfRangeCodeIsUnknown) {
  // 30 has no name but lies inside grpc::StatusCode's value range (0..31 for
  // enumerators 0..16); casting 99 was undefined behaviour (UBSan: "load of
  // value 99, which is not a valid value for type 'grpc::StatusCode'").
  const absl::Status out = FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(30), "odd"));
  EXPECT_EQ(out.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(out.message(), "odd");
}

TEST(GrpcStatusTest, EmptyMessageStillAnError) {
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::INTERNAL, "")).code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace q8::client
