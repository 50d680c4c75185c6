#include "core/bearer_token.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace q8::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseTokenFileTest, TokensOnePerLineSkippingCommentsBlanksAndWhitespace) {
  auto tokens =
      ParseTokenFile("# rotated 2026-12-04\n\n  new-token-0123456789abcdef  \r\nold-token-0123456789abcdef\n");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(*tokens, ElementsAre("new-token-0123456789abcdef", "old-token-0123456789abcdef"));
  auto no_newline = ParseTokenFile("abcdefghijklmnop");
  ASSERT_TRUE(no_newline.ok());
  EXPECT_THAT(*no_newline, ElementsAre("abcdefghijklmnop"));
}

TEST(ParseTokenFileTest, EmptyShortOrMalformedTokensAreRefusedWithoutEchoingThem) {
  EXPECT_EQ(ParseTokenFile("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTokenFile("\n  \n# only a comment\n").status().code(), absl::StatusCode::kInvalidArgument);
  auto short_token = ParseTokenFile("good-token-0123456789\nsecret15chars!!\n");
  EXPECT_EQ(short_token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_token.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(short_token.status().message(), Not(HasSubstr("secret")));
  EXPECT_FALSE(ParseTokenFile("two words-0123456789abcdef\n").ok());
  EXPECT_FALSE(ParseTokenFile("tab\tinside-0123456789abcdef\n").ok());
  EXPECT_FALSE(ParseTokenFile("caf\xc3\xa9-0123456789abcdef\n").ok());
  EXPECT_FALSE(ParseTokenFile(std::string("nul\0inside-0123456789", 21)).ok());
  EXPECT_FALSE(ParseTokenFile(std::string(kMaxTokenLength + 1, 'x')).ok());
  EXPECT_TRUE(ParseTokenFile(std::string(kMaxTokenLength, 'x')).ok());
  std::string many;
  for (size_t i = 0; i <= kMaxTokensPerFile; ++i) many += "token-number-" + std::to_string(1000 + i) + "\n";
  EXPECT_FALSE(ParseTokenFile(many).ok());
}

TEST(ParseBearerHeaderTest, SchemeIsCaseInsensitiveAndNeedsAToken) {
  EXPECT_EQ(ParseBearerHeader("Bearer abc"), "abc");
  EXPECT_EQ(ParseBearerHeader("bearer   abc"), "abc");
  EXPECT_EQ(ParseBearerHeader("BEARER abc"), "abc");
  EXPECT_EQ(ParseBearerHeader("Bearer"), std::nullopt);
  EXPECT_EQ(ParseBearerHeader("Bearer "), std::nullopt);
  EXPECT_EQ(ParseBearerHeader("Bearerabc"), std::nullopt);
  EXPECT_EQ(ParseBearerHeader("Basic abc"), std::nullopt);
  EXPECT_EQ(ParseBearerHeader("abc"), std::nullopt);
  EXPECT_EQ(ParseBearerHeader(""), std::nullopt);
}

TEST(ConstantTimeEqualsTest, EqualOnlyForTheSameBytes) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("token-0123456789", "token-0123456789"));
  EXPECT_FALSE(ConstantTimeEquals("token-0123456789", "token-0123456788"));  // last byte
  EXPECT_FALSE(ConstantTimeEquals("token-0123456789", "Token-0123456789"));  // first byte
  EXPECT_FALSE(ConstantTimeEquals("token-0123456789", "token-012345678"));   // prefix
  EXPECT_FALSE(ConstantTimeEquals("token", "token-0123456789"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace q8::core
