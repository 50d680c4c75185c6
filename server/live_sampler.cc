#include "server/live_sampler.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace q8::server {

LiveSampler::LiveSampler(core::Dims sample_dims, int64_t target, std::string interim)
    : sample_dims_(std::move(sample_dims)),
      sample_floats_(core::NumElements(sample_dims_)),
      target_(target),
      interim_(std::move(interim)),
      phase_(Phase::kCollecting) {
  wanted_.store(target_ > 0);
}

LiveSampler::LiveSampler(Phase phase, std::string reason, std::string interim)
    : interim_(std::move(interim)), phase_(phase), reason_(std::move(reason)) {}

void LiveSampler::MaybeSample(const core::TensorView& input, int64_t batch) {
  if (!wanted_.load(std::memory_order_relaxed)) return;
  if (input.dtype != core::DataType::kFloat32 || batch < 1 || input.num_elements() != batch * sample_floats_) return;
  bool full = false;
  {
    absl::MutexLock lock(&mu_);
    // Checked again under the lock: a request that passed the relaxed check
    // just before the buffer filled (and was taken) must not refill it.
    if (!wanted_.load()) return;
    const auto* rows = static_cast<const float*>(input.data);
    for (int64_t b = 0; b < batch && static_cast<int64_t>(samples_.size()) < target_; ++b) {
      samples_.emplace_back(rows + b * sample_floats_, rows + (b + 1) * sample_floats_);
    }
    collected_.store(static_cast<int64_t>(samples_.size()));
    if (static_cast<int64_t>(samples_.size()) >= target_ && wanted_.load()) {
      wanted_.store(false);
      phase_.store(Phase::kQuantizing);
      full = true;
    }
  }
  if (full && on_full_) on_full_();
}

core::Tensor LiveSampler::TakeSamples() {
  absl::MutexLock lock(&mu_);
  core::Dims dims = {static_cast<int64_t>(samples_.size())};
  dims.insert(dims.end(), sample_dims_.begin(), sample_dims_.end());
  core::Tensor out(core::DataType::kFloat32, dims);
  auto* dst = static_cast<float*>(out.data());
  for (size_t i = 0; i < samples_.size(); ++i) {
    std::memcpy(dst + i * sample_floats_, samples_[i].data(), sample_floats_ * sizeof(float));
  }
  std::vector<std::vector<float>>().swap(samples_);  // dropped once used
  return out;
}

void LiveSampler::Fail(std::string reason) {
  absl::MutexLock lock(&mu_);
  wanted_.store(false);
  std::vector<std::vector<float>>().swap(samples_);
  reason_ = std::move(reason);
  phase_.store(Phase::kFailed);
}

std::string LiveSampler::Describe() const {
  switch (phase_.load()) {
    case Phase::kCollecting:
      return absl::StrCat("calibrating (", collected(), "/", target_, " samples)");
    case Phase::kQuantizing:
      return absl::StrCat("calibrating (", collected(), "/", target_, " samples, quantizing)");
    case Phase::kOff:
      return absl::StrCat(interim_, " (live calibration off)");
    case Phase::kFailed: {
      absl::MutexLock lock(&mu_);
      return absl::StrCat(interim_, " (live calibration failed: ", reason_, ")");
    }
    case Phase::kUnsupported: {
      absl::MutexLock lock(&mu_);
      return absl::StrCat(interim_, " (live calibration not possible: ", reason_, ")");
    }
  }
  return interim_;
}

std::string LiveSampler::StateLabel() const {
  switch (phase_.load()) {
    case Phase::kCollecting:
      return "calibrating";
    case Phase::kQuantizing:
      return "quantizing";
    case Phase::kFailed:
      return "live_failed";
    case Phase::kOff:
      return "live_off";
    case Phase::kUnsupported:
      return "live_unsupported";
  }
  return "unknown";
}

}  // namespace q8::server
