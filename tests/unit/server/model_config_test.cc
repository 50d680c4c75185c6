#include "server/model_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace q8::server {
namespace {

using ::testing::HasSubstr;

ModelConfig Defaults() {
  ModelConfig c;
  c.max_batch_size = 32;
  c.warmup_batch_sizes = {1};
  return c;
}

TEST(ModelConfigTest, EmptyObjectKeepsDefaults) {
  auto c = ParseModelConfig("{}", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_batch_size, 32);
  EXPECT_EQ(c->warmup_batch_sizes, std::vector<int64_t>{1});
}

TEST(ModelConfigTest, ParsesKnownKeys) {
  auto c = ParseModelConfig(R"({"name":"m","max_batch_size":16,"warmup_batch_sizes":[1,8,16]})", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_batch_size, 16);
  EXPECT_EQ(c->warmup_batch_sizes, (std::vector<int64_t>{1, 8, 16}));
  engine::CompileOptions o = ToCompileOptions(*c);
  EXPECT_EQ(o.max_batch_size, 16);
  EXPECT_EQ(o.warmup_batch_sizes, (std::vector<int64_t>{1, 8, 16}));
}

TEST(ModelConfigTest, UnknownKeysAreAccepted) {
  auto c = ParseModelConfig(R"({"quantization":{"mode":"int8"},"max_batch_size":4})", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_batch_size, 4);
}

void ExpectInvalid(absl::string_view json, absl::string_view needle) {
  auto c = ParseModelConfig(json, "m", Defaults());
  ASSERT_FALSE(c.ok()) << json;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(std::string(needle))) << json;
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("model 'm'"));
}

TEST(ModelConfigTest, RejectsMalformed) {
  ExpectInvalid("{", "not valid JSON");
  ExpectInvalid("", "not valid JSON");
  ExpectInvalid("[1,2]", "must be a JSON object");
  ExpectInvalid(R"({"max_batch_size":"8"})", "'max_batch_size' must be an integer");
  ExpectInvalid(R"({"max_batch_size":1.5})", "'max_batch_size' must be an integer");
  ExpectInvalid(R"({"max_batch_size":0})", "must be in [1,");
  ExpectInvalid(R"({"max_batch_size":-3})", "must be in [1,");
  ExpectInvalid(R"({"warmup_batch_sizes":4})", "'warmup_batch_sizes' must be an array");
  ExpectInvalid(R"({"warmup_batch_sizes":["a"]})", "must be an integer");
  ExpectInvalid(R"({"max_batch_size":4,"warmup_batch_sizes":[8]})", "exceeds max_batch_size 4");
  ExpectInvalid(R"({"name":"other"})", "'name' is 'other'");
  ExpectInvalid(R"({"name":3})", "'name' must be a string");
}

TEST(ModelConfigTest, DefaultWarmupIsClippedToSmallMaxBatch) {
  ModelConfig d = Defaults();
  d.warmup_batch_sizes = {1, 16};
  auto c = ParseModelConfig(R"({"max_batch_size":4})", "m", d);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->warmup_batch_sizes, std::vector<int64_t>{1});
}

}  // namespace
}  // namespace q8::server
