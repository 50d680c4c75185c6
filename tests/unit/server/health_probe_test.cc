// ProbeTarget: which address `q8serve --health_probe` dials for a listen address.
#include "server/health_probe.h"

#include "gtest/gtest.h"

namespace q8::server {
namespace {

TEST(ProbeTargetTest, WildcardHostsBecomeLoopback) {
  EXPECT_EQ(ProbeTarget("0.0.0.0:8001"), "127.0.0.1:8001");
  EXPECT_EQ(ProbeTarget(":8001"), "127.0.0.1:8001");
  EXPECT_EQ(ProbeTarget("[::]:9000"), "[::1]:9000");
}

TEST(ProbeTargetTest, ConcreteAddressesAreKept) {
  EXPECT_EQ(ProbeTarget("127.0.0.1:8001"), "127.0.0.1:8001");
  EXPECT_EQ(ProbeTarget("localhost:8001"), "localhost:8001");
  EXPECT_EQ(ProbeTarget("[::1]:8001"), "[::1]:8001");
  EXPECT_EQ(ProbeTarget("unix:/tmp/q8.sock"), "unix:/tmp/q8.sock");
}

TEST(ProbeTargetTest, DeadAddressIsUnavailable) {
  // Port 1 on loopback: nothing listens (and unprivileged processes cannot).
  absl::Status s = ProbeHealth("127.0.0.1:1", "", absl::Seconds(2));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("127.0.0.1:1"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace q8::server
