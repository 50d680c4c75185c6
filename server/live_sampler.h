// LiveSampler: the live-calibration state of one interim version (quantization
// mode "auto" without calibration data). It keeps copies of sampled request
// inputs in memory (never on disk) until it holds `target` samples, then hands
// them, once, to the background calibration job (server/live_calibrator.h)
// and forgets them. It also says what the version serves and why
// ("calibrating (137/512 samples)").
//
// Cost on the request path: one relaxed atomic load while no sample is
// wanted; a copy of the request's rows (and a short lock) only while the
// buffer is filling. Memory: at most target x sample bytes, and the loader
// chooses target so that this stays under kMaxLiveSampleBytes.
//
// Thread safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/tensor.h"

namespace q8::server {

// Largest buffer of live samples one version may hold.
inline constexpr int64_t kMaxLiveSampleBytes = int64_t{256} << 20;

class LiveSampler {
 public:
  enum class Phase {
    kCollecting,   // sampling requests
    kQuantizing,   // samples handed to the background job
    kFailed,       // the job failed; the interim precision keeps serving
    kOff,          // quantization.live.enabled is false
    kUnsupported,  // the model cannot be calibrated on its requests (reason says why)
  };

  // Collects `target` samples shaped `sample_dims` (float32, without the
  // batch dimension). `interim` names what serves meanwhile ("fp32",
  // "int8 dynamic").
  LiveSampler(core::Dims sample_dims, int64_t target, std::string interim);
  // A version that does not calibrate: kOff or kUnsupported with `reason`.
  LiveSampler(Phase phase, std::string reason, std::string interim);

  // Called once, before the version is published: runs (on the request
  // thread that completed the buffer) when `target` samples are held. It
  // must only hand work off.
  void SetOnFull(std::function<void()> on_full) { on_full_ = std::move(on_full); }

  // Request path: copies rows of `input` ([batch, sample_dims...], float32)
  // while samples are wanted.
  void MaybeSample(const core::TensorView& input, int64_t batch);

  // The collected samples as one [n, sample_dims...] tensor; the buffer is
  // released.
  core::Tensor TakeSamples();
  void Fail(std::string reason);

  Phase phase() const { return phase_.load(); }
  int64_t collected() const { return collected_.load(); }
  int64_t target() const { return target_; }
  const std::string& interim() const { return interim_; }
  // "calibrating (137/512 samples)", "fp32 (live calibration off)",
  // "fp32 (live calibration failed: ...)".
  std::string Describe() const;
  // Short state for the metric's label: calibrating, quantizing, live_failed,
  // live_off, live_unsupported.
  std::string StateLabel() const;

 private:
  const core::Dims sample_dims_;
  const int64_t sample_floats_ = 0;
  const int64_t target_ = 0;
  const std::string interim_;
  std::function<void()> on_full_;
  std::atomic<bool> wanted_{false};
  std::atomic<Phase> phase_;
  std::atomic<int64_t> collected_{0};
  mutable absl::Mutex mu_;
  std::vector<std::vector<float>> samples_ ABSL_GUARDED_BY(mu_);
  std::string reason_ ABSL_GUARDED_BY(mu_);
};

}  // namespace q8::server
