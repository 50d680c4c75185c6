#include "server/model_state.h"

#include "gtest/gtest.h"

namespace q8::server {
namespace {

using S = ModelState;

TEST(ModelStateTest, TritonStrings) {
  EXPECT_EQ(ToString(S::kLoading), "LOADING");
  EXPECT_EQ(ToString(S::kReady), "READY");
  EXPECT_EQ(ToString(S::kUnloading), "UNLOADING");
  EXPECT_EQ(ToString(S::kUnavailable), "UNAVAILABLE");
}

TEST(ModelStateTest, LegalTransitions) {
  EXPECT_TRUE(IsLegalTransition(S::kLoading, S::kReady));
  EXPECT_TRUE(IsLegalTransition(S::kLoading, S::kUnavailable));
  EXPECT_TRUE(IsLegalTransition(S::kReady, S::kReady));  // hot swap
  EXPECT_TRUE(IsLegalTransition(S::kReady, S::kUnloading));
  EXPECT_TRUE(IsLegalTransition(S::kUnloading, S::kUnavailable));
  EXPECT_TRUE(IsLegalTransition(S::kUnavailable, S::kLoading));
}

TEST(ModelStateTest, IllegalTransitions) {
  EXPECT_FALSE(IsLegalTransition(S::kLoading, S::kLoading));
  EXPECT_FALSE(IsLegalTransition(S::kLoading, S::kUnloading));
  EXPECT_FALSE(IsLegalTransition(S::kReady, S::kLoading));
  EXPECT_FALSE(IsLegalTransition(S::kReady, S::kUnavailable));
  EXPECT_FALSE(IsLegalTransition(S::kUnloading, S::kReady));
  EXPECT_FALSE(IsLegalTransition(S::kUnloading, S::kLoading));
  EXPECT_FALSE(IsLegalTransition(S::kUnavailable, S::kReady));
  EXPECT_FALSE(IsLegalTransition(S::kUnavailable, S::kUnloading));
}

}  // namespace
}  // namespace q8::server
