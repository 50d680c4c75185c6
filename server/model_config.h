// ModelConfig: the per-model config.json (what RepositoryModelLoad's "config"
// parameter carries and what the repository stores next to the versions).
//
// Schema (all keys optional; unknown top-level keys are accepted and logged,
// so later releases can add sections without breaking old files):
//   {
//     "name": "fashion_cnn",            // if present, must equal the model name
//     "max_batch_size": 64,             // integer in [1, 1024]
//     "warmup_batch_sizes": [1, 8],     // 1-8 distinct integers in [1, max_batch_size]; duplicates dropped
//     "max_cached_plans": 64,           // integer in [1, 4096]: execution plans kept per model version (one per
//                                       // set of input shapes and thread count), least recently used evicted
//     "execution": {                    // streams; defaults from --execution_preset
//       "preset": "auto",               // auto (from the measured run time, see AutoLayout) | latency
//                                       // (1 stream x all CPUs) | throughput (1 single-threaded stream per CPU)
//       "streams": 2,                   // integer in [1, 256]; overrides the preset
//       "threads_per_stream": 1,        // integer in [1, 256]; overrides the preset
//       "max_queue_size": 512           // integer in [1, 1048576]; default --max_queue_size
//     },                                // streams x threads is clamped to --max_threads_per_cpu x CPUs
//     "dynamic_batching": {             // present (even {}) = merge concurrent requests
//       "max_queue_delay_us": 500,      // integer in [0, 10000000]
//       "preferred_batch_sizes": [8],   // integers in [1, max_batch_size]
//       "eager": true                   // false: always wait out the delay
//     },
//     "shadow_fraction": 0.01,          // in [0, 1]; default: the server's --shadow_fraction
//     "sequence_buckets": "auto",       // auto | off | false | true | [8, 16, 32] | {"buckets": [8, 16, 32],
//                                       //   "input_axes": {"input_ids": 1, "attention_mask": 1},
//                                       //   "mask_input": "attention_mask", "pad_value": 0}: pad a request's
//                                       // sequence inputs to the next bucket (mask with 0) and slice outputs
//                                       // back, so a few plans serve every length; auto = on for an
//                                       // ids+mask model where padding provably changes nothing
//                                       // (engine/buckets/sequence_buckets.h, server/README.md)
//     "quantization": {                 // every key optional; defaults shown
//       "mode": "auto",                 // auto | static | dynamic | none; auto: static with calibration
//                                       // data, else served at once and calibrated on live traffic
//       "live": {                       // live calibration (mode auto without calibration data)
//         "enabled": true,              // false: keep the interim precision
//         "samples": 512                // request samples to collect, integer in [kMinLiveSamples, kMaxLiveSamples]
//       },
//       "calibration": {
//         "method": "percentile",       // minmax | percentile | entropy | mse
//         "percentile": 99.99,          // in (50, 100]
//         "max_samples": 512            // integer >= 1
//       },
//       "per_channel": true,
//       "equalization": "auto",         // true | false | "auto": cross-layer equalization of conv pairs
//                                       // before calibration; auto = with per_channel false and a
//                                       // depthwise conv pair only
//       "activations": "symmetric",     // symmetric | asymmetric | auto: static activations that change sign as
//                                       // s8, or u8 + zero point where only int8 MatMul/Gemm read them; auto:
//                                       // asymmetric where the calibrated range is skewed (>= 1 dB SQNR gain)
//       "fallback": "auto",             // auto | bf16 | fp32: where layers that fail the accuracy check go;
//                                       // auto: bf16 where the CPU has it, fp32 if bf16 still fails
//       "accuracy": {
//         "metric": "top1",             // top1 | agreement; default: top1 with labels, else agreement
//         "max_drop": 0.01,             // absolute, in [0, 1]
//         "confidence": 0.95,           // fall back only on a drop above max_drop at this confidence, [0.5, 0.9999]
//         "eval_fraction": 0.2          // in [0, 0.9]
//       }
//     }
//   }
// Malformed JSON, nesting deeper than kMaxConfigDepth, a non-object document, or a wrong type/range is
// INVALID_ARGUMENT with the key named ("quantization.calibration.method").
// Unlike the top level, unknown keys inside the sections are errors: a
// misspelt "max_drop" must not silently fall back to the default.
// Parsing is cheap and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/buckets/sequence_buckets.h"
#include "engine/compiler.h"
#include "engine/quant/quantization_options.h"
#include "server/execution/execution_config.h"

namespace q8::server {

// quantization.live: calibration on sampled request inputs (mode auto, no
// calibration data). See server/live_sampler.h.
struct LiveCalibrationConfig {
  bool enabled = true;
  int64_t samples = 512;
};
inline constexpr int64_t kMinLiveSamples = 2;  // one to calibrate, one held out for the check
inline constexpr int64_t kMaxLiveSamples = 65536;

struct ModelConfig {
  int64_t max_batch_size = 64;
  // Plans kept per model version (engine::CompileOptions::max_cached_plans).
  int64_t max_cached_plans = 64;
  // quantization.mode "auto" (the default): `quantization.mode` is then
  // kStatic, used when calibration data comes with the model; without data
  // the version serves an interim precision and calibrates on live traffic.
  bool quantization_auto = true;
  LiveCalibrationConfig live;
  std::vector<int64_t> warmup_batch_sizes = {1};
  engine::QuantizationOptions quantization;  // engine defaults = documented defaults
  ExecutionConfig execution;                 // streams and dynamic batching
  // Share of successful requests of an int8 version re-run through its fp32
  // reference (shadow evaluation); unset: the server's --shadow_fraction.
  std::optional<double> shadow_fraction;
  // "sequence_buckets" (default auto): plans per length bucket, not per length.
  engine::SequenceBucketOptions sequence_buckets;
};

// Largest max_batch_size a config (or --max_batch_size) may ask for: every
// stream's workspaces are sized for it, and merged batches beyond ~1k rows
// gain nothing on CPU while a single request could pin a stream for seconds.
inline constexpr int64_t kMaxConfigBatchSize = 1024;
// Warm-up sizes each stream builds and runs before READY: each costs a plan
// (and its memory) per stream, so a long list is refused, not ground through.
inline constexpr int64_t kMaxWarmupBatchSizes = 8;
// Each cached plan holds its primitives and per-stream workspaces: bounded.
inline constexpr int64_t kMaxCachedPlansConfig = 4096;
inline constexpr int64_t kMaxQueueSizeConfig = 1 << 20;
inline constexpr int64_t kMaxStreams = 256;
inline constexpr int64_t kMaxThreadsPerStream = 256;
inline constexpr int64_t kMaxQueueDelayUs = 10'000'000;
// Deepest JSON nesting a config may use (the schema needs 3 levels).
inline constexpr int kMaxConfigDepth = 16;

// Parses `json`; keys it does not set keep the value from `defaults`.
// `model_name` is used for the "name" check and in messages.
absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json, absl::string_view model_name,
                                             const ModelConfig& defaults);

engine::CompileOptions ToCompileOptions(const ModelConfig& config);

}  // namespace q8::server
