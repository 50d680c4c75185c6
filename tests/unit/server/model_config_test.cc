#include "server/model_config.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace q8::server {
namespace {

using ::testing::HasSubstr;

void ExpectInvalid(absl::string_view json, absl::string_view needle);

ModelConfig Defaults() {
  ModelConfig c;
  c.max_batch_size = 32;
  c.warmup_batch_sizes = {1};
  return c;
}

// The message of the INVALID_ARGUMENT that `json` must produce.
std::string ConfigError(const std::string& json) {
  auto c = ParseModelConfig(json, "m", Defaults());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << json;
  return std::string(c.status().message());
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

TEST(ModelConfigTest, ShadowFraction) {
  auto unset = ParseModelConfig("{}", "m", Defaults());
  ASSERT_TRUE(unset.ok());
  EXPECT_FALSE(unset->shadow_fraction.has_value());  // the server's --shadow_fraction applies
  for (double f : {0.0, 0.25, 1.0}) {
    auto c = ParseModelConfig(absl::StrCat(R"({"shadow_fraction":)", f, "}"), "m", Defaults());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->shadow_fraction, f);
  }
  ExpectInvalid(R"({"shadow_fraction":1.5})", "'shadow_fraction' must be in [0, 1], got 1.5");
  ExpectInvalid(R"({"shadow_fraction":-0.01})", "'shadow_fraction' must be in [0, 1], got -0.01");
  ExpectInvalid(R"({"shadow_fraction":"all"})", "'shadow_fraction' must be a number");
}

TEST(ModelConfigTest, UnknownKeysAreAccepted) {
  auto c = ParseModelConfig(R"({"metrics":{"shadow":true},"max_batch_size":4})", "m", Defaults());
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

TEST(ModelConfigTest, RefusesDeepNestingBeforeParsing) {
  // Issue 11: 200 000 levels crashed the server (recursive dump in the message).
  ExpectInvalid(std::string(200000, '[') + std::string(200000, ']'), "nested more than");
  std::string deep_object;
  for (int i = 0; i < 100000; ++i) deep_object += "{\"a\":";
  ExpectInvalid(deep_object + "1" + std::string(100000, '}'), "nested more than");
  ExpectInvalid(R"({"quantization":)" + std::string(kMaxConfigDepth, '[') + std::string(kMaxConfigDepth, ']') + "}",
                "nested more than");
  // Brackets inside strings (and escaped quotes) are not nesting.
  auto c = ParseModelConfig(R"({"unknown":"[[[[[[[[[[[[[[[[[[[[[[[[\"[[[[[[[[[[[[[[[[[[[[[[", "max_batch_size":4})",
                            "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_batch_size, 4);
}

TEST(ModelConfigTest, EchoedClientValuesAreTruncated) {
  const std::string huge(1 << 20, 'z');
  for (const std::string& json : {R"({"name":")" + huge + R"("})", R"({"max_batch_size":")" + huge + R"("})",
                                  R"({"quantization":{"per_channel":")" + huge + R"("}})"}) {
    auto c = ParseModelConfig(json, "m", Defaults());
    ASSERT_FALSE(c.ok());
    EXPECT_LT(c.status().message().size(), 600u);
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("more bytes]"));
  }
  auto c = ParseModelConfig("[]", std::string(1 << 20, 'n'), Defaults());
  EXPECT_LT(c.status().message().size(), 600u);
}

// Warm-up sizes are deduplicated and sorted; more than kMaxWarmupBatchSizes
// distinct sizes, or none, is refused naming the limit.
TEST(ModelConfigTest, WarmupSizesAreDeduplicatedAndCapped) {
  auto c = ParseModelConfig(R"({"warmup_batch_sizes":[8,1,8,1,4,4,4]})", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->warmup_batch_sizes, (std::vector<int64_t>{1, 4, 8}));
  std::string many = "[";
  for (int i = 0; i < 400; ++i) absl::StrAppend(&many, i > 0 ? "," : "", 1 + i % 3);  // 400 entries, 3 distinct
  c = ParseModelConfig(absl::StrCat(R"({"warmup_batch_sizes":)", many, "]}"), "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->warmup_batch_sizes, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_THAT(ConfigError(R"({"warmup_batch_sizes":[1,2,3,4,5,6,7,8,9]})"),
              HasSubstr("'warmup_batch_sizes' lists 9 distinct sizes; at most 8 are allowed"));
  EXPECT_THAT(ConfigError(R"({"warmup_batch_sizes":[]})"), HasSubstr("must list at least one batch size"));
}

TEST(ModelConfigTest, MaxBatchSizeIsCapped) {
  EXPECT_TRUE(ParseModelConfig(R"({"max_batch_size":1024})", "m", Defaults()).ok());
  EXPECT_THAT(ConfigError(R"({"max_batch_size":1025})"), HasSubstr("'max_batch_size' must be in [1, 1024], got 1025"));
  EXPECT_THAT(ConfigError(R"({"max_batch_size":65536})"), HasSubstr("must be in [1, 1024]"));
}

TEST(ModelConfigTest, SequenceBucketsForms) {
  using Mode = engine::SequenceBucketOptions::Mode;
  EXPECT_EQ(ParseModelConfig("{}", "m", Defaults())->sequence_buckets.mode, Mode::kAuto);
  EXPECT_EQ(ParseModelConfig(R"({"sequence_buckets":"auto"})", "m", Defaults())->sequence_buckets.mode, Mode::kAuto);
  EXPECT_EQ(ParseModelConfig(R"({"sequence_buckets":"off"})", "m", Defaults())->sequence_buckets.mode, Mode::kOff);
  EXPECT_EQ(ParseModelConfig(R"({"sequence_buckets":false})", "m", Defaults())->sequence_buckets.mode, Mode::kOff);
  EXPECT_EQ(ParseModelConfig(R"({"sequence_buckets":true})", "m", Defaults())->sequence_buckets.mode, Mode::kOn);
  auto list = ParseModelConfig(R"({"sequence_buckets":[16,32,64]})", "m", Defaults());
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->sequence_buckets.mode, Mode::kOn);
  EXPECT_EQ(list->sequence_buckets.buckets, (std::vector<int64_t>{16, 32, 64}));
  auto full = ParseModelConfig(R"({"sequence_buckets":{"buckets":[8,128],"mask_input":"attention_mask",
      "pad_value":3,"input_axes":{"input_ids":1,"attention_mask":1}}})",
                               "m", Defaults());
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->sequence_buckets.mask_input, "attention_mask");
  EXPECT_EQ(full->sequence_buckets.pad_value, 3);
  EXPECT_EQ(full->sequence_buckets.input_axes.size(), 2u);
}

TEST(ModelConfigTest, SequenceBucketsRejectsMalformed) {
  EXPECT_THAT(ConfigError(R"({"sequence_buckets":"sometimes"})"), HasSubstr("'sequence_buckets' must be"));
  EXPECT_THAT(ConfigError(R"({"sequence_buckets":[]})"), HasSubstr("non-empty array"));
  EXPECT_THAT(ConfigError(R"({"sequence_buckets":[32,16]})"), HasSubstr("strictly ascending"));
  EXPECT_THAT(ConfigError(R"({"sequence_buckets":[0,16]})"), HasSubstr("must be in [1, 1048576]"));
  EXPECT_THAT(ConfigError(R"({"sequence_buckets":[1.5]})"), HasSubstr("must be an integer"));
  EXPECT_THAT(ConfigError(R"({"sequence_buckets":{"bucket":[8]}})"),
              HasSubstr("unknown key 'sequence_buckets.bucket'"));
  EXPECT_THAT(ConfigError(R"({"sequence_buckets":{"pad_value":"0"}})"), HasSubstr("'sequence_buckets.pad_value'"));
  EXPECT_THAT(ConfigError(R"({"sequence_buckets":{"input_axes":{"ids":0}}})"),
              HasSubstr("'sequence_buckets.input_axes.ids' must be in [1, 64]"));
  std::string many = R"({"sequence_buckets":[)";
  for (int i = 1; i <= 33; ++i) many += std::to_string(i) + (i < 33 ? "," : "]}");
  EXPECT_THAT(ConfigError(many), HasSubstr("at most 32"));
}

TEST(ModelConfigTest, MaxCachedPlansReachesTheEngineAndIsBounded) {
  EXPECT_EQ(ToCompileOptions(*ParseModelConfig("{}", "m", Defaults())).max_cached_plans, 64);
  auto c = ParseModelConfig(R"({"max_cached_plans":3})", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_cached_plans, 3);
  EXPECT_EQ(ToCompileOptions(*c).max_cached_plans, 3);
  EXPECT_TRUE(ParseModelConfig(R"({"max_cached_plans":4096})", "m", Defaults()).ok());
  EXPECT_THAT(ConfigError(R"({"max_cached_plans":0})"), HasSubstr("'max_cached_plans' must be in [1, 4096], got 0"));
  EXPECT_THAT(ConfigError(R"({"max_cached_plans":4097})"), HasSubstr("must be in [1, 4096]"));
  EXPECT_THAT(ConfigError(R"({"max_cached_plans":-1})"), HasSubstr("must be in [1, 4096]"));
  EXPECT_THAT(ConfigError(R"({"max_cached_plans":2.5})"), HasSubstr("'max_cached_plans' must be an integer"));
}

TEST(ModelConfigTest, ExecutionMaxQueueSize) {
  auto c = ParseModelConfig(R"({"execution":{"max_queue_size":16}})", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->execution.max_queue_size, 16);
  EXPECT_EQ(ParseModelConfig("{}", "m", Defaults())->execution.max_queue_size, 0);  // the server's flag
  EXPECT_THAT(ConfigError(R"({"execution":{"max_queue_size":0}})"),
              HasSubstr("'execution.max_queue_size' must be in [1, 1048576], got 0"));
  EXPECT_THAT(ConfigError(R"({"execution":{"max_queue_size":"8"}})"), HasSubstr("must be an integer"));
}

TEST(ModelConfigTest, DefaultWarmupIsClippedToSmallMaxBatch) {
  ModelConfig d = Defaults();
  d.warmup_batch_sizes = {1, 16};
  auto c = ParseModelConfig(R"({"max_batch_size":4})", "m", d);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->warmup_batch_sizes, std::vector<int64_t>{1});
}

TEST(ModelConfigTest, QuantizationDefaultsAreTheDocumentedOnes) {
  auto c = ParseModelConfig("{}", "m", ModelConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  const engine::QuantizationOptions& q = c->quantization;
  EXPECT_EQ(q.mode, engine::QuantMode::kStatic);
  EXPECT_EQ(q.method, engine::CalibrationMethod::kPercentile);
  EXPECT_DOUBLE_EQ(q.percentile, 99.99);
  EXPECT_EQ(q.max_samples, 512);
  EXPECT_TRUE(q.per_channel);
  EXPECT_EQ(q.equalization, engine::Equalization::kAuto);
  EXPECT_FALSE(q.metric.has_value());  // top1 with labels, else agreement
  EXPECT_DOUBLE_EQ(q.max_drop, 0.01);
  EXPECT_DOUBLE_EQ(q.eval_fraction, 0.2);
  EXPECT_EQ(q.fallback, engine::FallbackPrecision::kAuto);
  // Mode auto: static with calibration data, else live calibration on 512 samples.
  EXPECT_TRUE(c->quantization_auto);
  EXPECT_TRUE(c->live.enabled);
  EXPECT_EQ(c->live.samples, 512);
}

TEST(ModelConfigTest, ParsesModeAutoAndLiveCalibration) {
  auto c = ParseModelConfig(R"({"quantization":{"mode":"static"}})", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->quantization_auto);
  EXPECT_EQ(c->quantization.mode, engine::QuantMode::kStatic);
  c = ParseModelConfig(R"({"quantization":{"mode":"none"}})", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->quantization_auto);
  EXPECT_EQ(c->quantization.mode, engine::QuantMode::kNone);
  c = ParseModelConfig(R"({"quantization":{"mode":"auto","live":{"enabled":false,"samples":2}}})", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->quantization_auto);
  EXPECT_EQ(c->quantization.mode, engine::QuantMode::kStatic);
  EXPECT_FALSE(c->live.enabled);
  EXPECT_EQ(c->live.samples, 2);
  c = ParseModelConfig(R"({"quantization":{"live":{"samples":65536}}})", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->live.samples, kMaxLiveSamples);
}

TEST(ModelConfigTest, HostileLiveCalibrationValuesAreRefused) {
  for (const char* samples :
       {"0", "1", "-1", "-512", "65537", "1000000000000", "1e300", "1.5", "\"512\"", "null", "true", "[512]", "{}"}) {
    const std::string json = std::string(R"({"quantization":{"live":{"samples":)") + samples + "}}}";
    EXPECT_THAT(ConfigError(json), HasSubstr("'quantization.live.samples' must be")) << json;
  }
  EXPECT_THAT(ConfigError(R"({"quantization":{"live":{"enabled":"yes"}}})"),
              HasSubstr("'quantization.live.enabled' must be true or false"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"live":{"sample":64}}})"),
              HasSubstr("unknown key 'quantization.live.sample'; expected one of: enabled, samples"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"live":64}})"), HasSubstr("'quantization.live' must be a JSON object"));
}

TEST(ModelConfigTest, ParsesQuantizationSection) {
  auto c = ParseModelConfig(R"({"quantization":{"mode":"dynamic","per_channel":false,
      "calibration":{"method":"entropy","percentile":99.9,"max_samples":64},
      "accuracy":{"metric":"agreement","max_drop":0.005,"eval_fraction":0.5}}})",
                            "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  const engine::QuantizationOptions& q = c->quantization;
  EXPECT_EQ(q.mode, engine::QuantMode::kDynamic);
  EXPECT_FALSE(q.per_channel);
  EXPECT_EQ(q.method, engine::CalibrationMethod::kEntropy);
  EXPECT_DOUBLE_EQ(q.percentile, 99.9);
  EXPECT_EQ(q.max_samples, 64);
  EXPECT_EQ(q.metric, engine::AccuracyMetric::kAgreement);
  EXPECT_DOUBLE_EQ(q.max_drop, 0.005);
  EXPECT_DOUBLE_EQ(q.eval_fraction, 0.5);
  // Integers are numbers too.
  c = ParseModelConfig(R"({"quantization":{"calibration":{"percentile":100},"accuracy":{"max_drop":0}}})", "m",
                       Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->quantization.percentile, 100);
  EXPECT_DOUBLE_EQ(c->quantization.max_drop, 0);
}

TEST(ModelConfigTest, ParsesEqualization) {
  const std::pair<const char*, engine::Equalization> cases[] = {{"true", engine::Equalization::kOn},
                                                                {"false", engine::Equalization::kOff},
                                                                {R"("auto")", engine::Equalization::kAuto}};
  for (const auto& [text, want] : cases) {
    auto c = ParseModelConfig(absl::StrCat(R"({"quantization":{"equalization":)", text, "}}"), "m", Defaults());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->quantization.equalization, want) << text;
  }
  // Hostile values: anything but true, false or "auto" names the key.
  for (const char* bad : {"1", "0", R"("on")", R"("true")", R"("AUTO")", "null", "[]", "{}", "0.5"}) {
    EXPECT_THAT(ConfigError(absl::StrCat(R"({"quantization":{"equalization":)", bad, "}}")),
                HasSubstr("'quantization.equalization' must be true, false or \"auto\""))
        << bad;
  }
  // The engine refuses a value outside the enum as well (options built in code).
  engine::QuantizationOptions o;
  o.equalization = static_cast<engine::Equalization>(7);
  EXPECT_EQ(engine::ValidateOptions(o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(engine::ValidateOptions(o).message()), HasSubstr("equalization"));
}

TEST(ModelConfigTest, ParsesFallbackPrecision) {
  for (auto [text, want] :
       {std::pair{"auto", engine::FallbackPrecision::kAuto}, std::pair{"bf16", engine::FallbackPrecision::kBf16},
        std::pair{"fp32", engine::FallbackPrecision::kFp32}}) {
    auto c = ParseModelConfig(absl::StrCat(R"({"quantization":{"fallback":")", text, R"("}})"), "m", ModelConfig());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->quantization.fallback, want) << text;
  }
}

TEST(ModelConfigTest, ParsesActivationScheme) {
  EXPECT_EQ(ModelConfig().quantization.activations, engine::ActivationScheme::kSymmetric);
  for (auto [text, want] : {std::pair{"symmetric", engine::ActivationScheme::kSymmetric},
                            std::pair{"asymmetric", engine::ActivationScheme::kAsymmetric},
                            std::pair{"auto", engine::ActivationScheme::kAuto}}) {
    auto c = ParseModelConfig(absl::StrCat(R"({"quantization":{"activations":")", text, R"("}})"), "m", ModelConfig());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->quantization.activations, want) << text;
  }
  EXPECT_THAT(ConfigError(R"({"quantization":{"activations":"asym"}})"),
              HasSubstr("'quantization.activations' is invalid: unknown activation scheme 'asym'; expected one of: "
                        "symmetric, asymmetric, auto"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"activations":true}})"),
              HasSubstr("'quantization.activations' must be a string"));
  engine::QuantizationOptions o;
  o.activations = static_cast<engine::ActivationScheme>(9);
  EXPECT_EQ(engine::ValidateOptions(o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(engine::ValidateOptions(o).message()), HasSubstr("activations"));
}

TEST(ModelConfigTest, QuantizationErrorsNameTheField) {
  EXPECT_THAT(ConfigError(R"({"quantization":"static"})"), HasSubstr("'quantization' must be a JSON object"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"mode":"int4"}})"),
              HasSubstr("'quantization.mode' is invalid: unknown quantization mode 'int4'; expected one of: "
                        "auto, static, dynamic, none"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"mode":1}})"), HasSubstr("'quantization.mode' must be a string"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"calibration":{"method":"kl"}}})"),
              HasSubstr("'quantization.calibration.method' is invalid: unknown calibration method 'kl'"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"calibration":{"percentile":"high"}}})"),
              HasSubstr("'quantization.calibration.percentile' must be a number"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"calibration":{"percentile":40}}})"),
              HasSubstr("quantization.calibration.percentile must be in (50, 100]"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"calibration":{"max_samples":1.5}}})"),
              HasSubstr("'quantization.calibration.max_samples' must be an integer"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"calibration":{"max_samples":0}}})"),
              HasSubstr("quantization.calibration.max_samples must be >= 1"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"per_channel":1}})"),
              HasSubstr("'quantization.per_channel' must be true or false"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"accuracy":{"metric":"top5"}}})"),
              HasSubstr("'quantization.accuracy.metric' is invalid: unknown accuracy metric 'top5'"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"accuracy":{"max_drop":-0.1}}})"),
              HasSubstr("quantization.accuracy.max_drop must be in [0, 1]"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"accuracy":{"eval_fraction":0.95}}})"),
              HasSubstr("quantization.accuracy.eval_fraction must be in [0, 0.9]"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"accuracy":[]}})"),
              HasSubstr("'quantization.accuracy' must be a JSON object"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"max_dorp":0.1}})"),
              HasSubstr("unknown key 'quantization.max_dorp'; expected one of: mode, calibration, per_channel, "
                        "accuracy"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"fallback":"fp16"}})"),
              HasSubstr("'quantization.fallback' is invalid: unknown fallback precision 'fp16'; expected one of: "
                        "auto, bf16, fp32"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"fallback":["bf16"]}})"),
              HasSubstr("'quantization.fallback' must be a string"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"fallback":"BF16\u0000x"}})"),
              HasSubstr("'quantization.fallback' is invalid"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"accuracy":{"maxdrop":0.1}}})"),
              HasSubstr("unknown key 'quantization.accuracy.maxdrop'"));
}

TEST(ModelConfigTest, SmoothQuantKeys) {
  auto parse = [](const std::string& json) {
    auto c = ParseModelConfig(json, "m", Defaults());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->quantization.smoothquant : engine::SmoothQuantOptions{};
  };
  EXPECT_FALSE(parse("{}").enabled);
  engine::SmoothQuantOptions o = parse(R"({"quantization":{"smoothquant":{"alpha":0.7}}})");
  EXPECT_TRUE(o.enabled);
  EXPECT_FALSE(o.search);
  EXPECT_DOUBLE_EQ(o.alpha, 0.7);
  o = parse(R"({"quantization":{"smoothquant":{}}})");
  EXPECT_TRUE(o.enabled);
  EXPECT_DOUBLE_EQ(o.alpha, 0.5);  // the documented default
  o = parse(R"({"quantization":{"smoothquant":{"alpha":"auto"}}})");
  EXPECT_TRUE(o.enabled && o.search);
  EXPECT_TRUE(parse(R"({"quantization":{"smoothquant":true}})").enabled);
  EXPECT_FALSE(parse(R"({"quantization":{"smoothquant":false}})").enabled);
  o = parse(R"({"quantization":{"smoothquant":{"alpha":0}}})");
  EXPECT_TRUE(o.enabled);
  EXPECT_DOUBLE_EQ(o.alpha, 0.0);

  EXPECT_THAT(ConfigError(R"({"quantization":{"smoothquant":{"alpha":1.5}}})"),
              HasSubstr("quantization.smoothquant.alpha must be in [0, 1]"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"smoothquant":{"alpha":-0.1}}})"),
              HasSubstr("quantization.smoothquant.alpha must be in [0, 1]"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"smoothquant":{"alpha":"max"}}})"),
              HasSubstr("'quantization.smoothquant.alpha' must be a number in [0, 1] or \"auto\""));
  EXPECT_THAT(ConfigError(R"({"quantization":{"smoothquant":{"alpha":null}}})"),
              HasSubstr("'quantization.smoothquant.alpha' must be a number"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"smoothquant":0.5}})"),
              HasSubstr("'quantization.smoothquant' must be true, false or an object"));
  EXPECT_THAT(ConfigError(R"({"quantization":{"smoothquant":{"alpah":0.5}}})"),
              HasSubstr("unknown key 'quantization.smoothquant.alpah'; expected one of: alpha"));
  for (const char* bad :
       {R"({"quantization":{"smoothquant":{"alpha":1e400}}})", R"({"quantization":{"smoothquant":"yes"}})"}) {
    auto c = ParseModelConfig(bad, "m", Defaults());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ModelConfigTest, ParsesExecutionAndDynamicBatching) {
  auto c = ParseModelConfig("{}", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->execution.batching.enabled);
  EXPECT_FALSE(c->execution.preset.has_value());
  c = ParseModelConfig(R"({"execution":{"preset":"throughput","streams":2,"threads_per_stream":1},
                           "dynamic_batching":{"max_queue_delay_us":250,"preferred_batch_sizes":[4,8]}})",
                       "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->execution.preset, ExecutionPreset::kThroughput);
  EXPECT_EQ(c->execution.streams, 2);
  EXPECT_EQ(c->execution.threads_per_stream, 1);
  EXPECT_TRUE(c->execution.batching.enabled);
  EXPECT_EQ(c->execution.batching.max_queue_delay_us, 250);
  EXPECT_EQ(c->execution.batching.preferred_batch_sizes, (std::vector<int64_t>{4, 8}));
  c = ParseModelConfig(R"({"dynamic_batching":{}})", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->execution.batching.enabled);  // {} turns it on with the default delay
  EXPECT_EQ(c->execution.batching.max_queue_delay_us, 500);
  EXPECT_TRUE(c->execution.batching.eager);
  c = ParseModelConfig(R"({"dynamic_batching":{"eager":false}})", "m", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->execution.batching.eager);
}

TEST(ModelConfigTest, ExecutionErrorsNameTheField) {
  EXPECT_THAT(ConfigError(R"({"execution":{"preset":"fast"}})"),
              HasSubstr("'execution.preset' is invalid: unknown execution preset 'fast'"));
  EXPECT_THAT(ConfigError(R"({"execution":{"streams":0}})"),
              HasSubstr("'execution.streams' must be in [1, 256], got 0"));
  EXPECT_THAT(ConfigError(R"({"execution":{"threads_per_stream":"2"}})"),
              HasSubstr("'execution.threads_per_stream' must be an integer"));
  EXPECT_THAT(ConfigError(R"({"execution":{"stream":2}})"), HasSubstr("unknown key 'execution.stream'"));
  EXPECT_THAT(ConfigError(R"({"dynamic_batching":true})"), HasSubstr("'dynamic_batching' must be a JSON object"));
  EXPECT_THAT(ConfigError(R"({"dynamic_batching":{"max_queue_delay_us":-1}})"),
              HasSubstr("'dynamic_batching.max_queue_delay_us' must be in [0, 10000000], got -1"));
  EXPECT_THAT(ConfigError(R"({"dynamic_batching":{"eager":"yes"}})"),
              HasSubstr("'dynamic_batching.eager' must be true or false"));
  EXPECT_THAT(ConfigError(R"({"dynamic_batching":{"preferred_batch_sizes":4}})"),
              HasSubstr("'dynamic_batching.preferred_batch_sizes' must be an array"));
  EXPECT_THAT(ConfigError(R"({"max_batch_size":8,"dynamic_batching":{"preferred_batch_sizes":[16]}})"),
              HasSubstr("preferred batch size 16 exceeds max_batch_size 8"));
}

}  // namespace
}  // namespace q8::server
