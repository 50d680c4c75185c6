#include "server/metrics/shadow_evaluator.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "core/logging.h"
#include "engine/threading.h"

namespace q8::server::metrics {
namespace {

core::Tensor Copy(core::DataType dtype, const core::Dims& dims, const void* data) {
  core::Tensor t(dtype, dims);
  if (t.byte_size() > 0) std::memcpy(t.data(), data, static_cast<size_t>(t.byte_size()));
  return t;
}

// Samples of a tensor: its leading dimension (1 for a scalar).
int64_t Samples(const core::Tensor& t) { return t.dims().empty() ? 1 : t.dims()[0]; }

bool Comparable(const core::Tensor& a, const core::Tensor& b) {
  return a.dtype() == core::DataType::kFloat32 && b.dtype() == core::DataType::kFloat32 &&
         a.num_elements() == b.num_elements() && Samples(a) == Samples(b) && Samples(a) > 0 &&
         a.num_elements() % Samples(a) == 0;
}

}  // namespace

ShadowEvaluator::ShadowEvaluator(size_t capacity, bool start_worker) : capacity_(capacity) {
  if (start_worker) Start();
}

ShadowEvaluator::~ShadowEvaluator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void ShadowEvaluator::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!worker_.joinable()) worker_ = std::thread([this] { Run(); });
}

bool ShadowEvaluator::Submit(std::shared_ptr<ModelMetrics> metrics,
                             std::shared_ptr<const engine::CompiledModel> reference,
                             absl::Span<const core::TensorView> inputs,
                             absl::Span<const core::MutableTensorView> outputs) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() + reserved_ >= capacity_) {
      metrics->RecordShadowDropped();
      return false;
    }
    ++reserved_;  // copy outside the lock: other requests are not held up
  }
  Job job{std::move(metrics), std::move(reference), {}, {}};
  job.inputs.reserve(inputs.size());
  for (const auto& v : inputs) job.inputs.push_back(Copy(v.dtype, v.dims, v.data));
  job.outputs.reserve(outputs.size());
  for (const auto& v : outputs) job.outputs.push_back(Copy(v.dtype, v.dims, v.data));
  {
    std::lock_guard<std::mutex> lock(mu_);
    --reserved_;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void ShadowEvaluator::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return stopping_ || (queue_.empty() && reserved_ == 0 && !busy_); });
}

size_t ShadowEvaluator::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void ShadowEvaluator::Run() {
  // Lowest priority for this thread (Linux: nice is per thread, and threads
  // it creates, such as oneDNN's OpenMP team, inherit it).
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19) != 0) {
    Q8_LOG(Warning, "shadow evaluation: cannot lower the worker's priority");
  }
  // One intra-op thread: a background re-run must not spread over every core
  // (its fp32 plans are built for this count on first use).
  engine::SetIntraOpThreads(1);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Evaluate(job);
    job = Job{};  // release models and tensors outside the lock
    lock.lock();
    busy_ = false;
    if (queue_.empty() && reserved_ == 0) idle_cv_.notify_all();
  }
  busy_ = false;
  idle_cv_.notify_all();
}

void ShadowEvaluator::Evaluate(Job& job) {
  const engine::CompiledModel& model = *job.reference;
  std::vector<core::TensorView> inputs;
  for (const auto& t : job.inputs) inputs.push_back(t.view());
  std::vector<core::Tensor> outputs;
  std::vector<core::MutableTensorView> views;
  absl::StatusOr<std::vector<core::Dims>> dims = model.OutputDimsFor(inputs);
  if (!dims.ok()) {
    Q8_LOG(Warning, "shadow evaluation of '", job.metrics->description().model, "' version ",
           job.metrics->description().version, " failed: ", dims.status().ToString());
    return;
  }
  for (size_t i = 0; i < model.outputs().size() && i < dims->size(); ++i) {
    outputs.emplace_back(model.outputs()[i].dtype, (*dims)[i]);
    views.push_back(outputs.back().mutable_view());
  }
  absl::Status status = model.Run(inputs, views);
  if (!status.ok()) {
    // The served model accepted these inputs; its reference should too.
    Q8_LOG(Warning, "shadow evaluation of '", job.metrics->description().model, "' version ",
           job.metrics->description().version, " failed: ", status.ToString());
    return;
  }
  job.metrics->RecordShadow(Compare(job.outputs, outputs));
}

ShadowResult ShadowEvaluator::Compare(absl::Span<const core::Tensor> served, absl::Span<const core::Tensor> reference) {
  ShadowResult result;
  const size_t n = std::min(served.size(), reference.size());
  int64_t samples = -1;
  std::vector<double> diff2, ref2;  // per sample, summed over outputs
  bool top1_done = false;
  for (size_t o = 0; o < n; ++o) {
    const core::Tensor& a = served[o];
    const core::Tensor& b = reference[o];
    if (!Comparable(a, b)) continue;
    if (samples < 0) {
      samples = Samples(a);
      diff2.assign(static_cast<size_t>(samples), 0.0);
      ref2.assign(static_cast<size_t>(samples), 0.0);
    }
    if (Samples(a) != samples) continue;
    const int64_t per = a.num_elements() / samples;
    const float* x = static_cast<const float*>(a.data());
    const float* y = static_cast<const float*>(b.data());
    for (int64_t s = 0; s < samples; ++s) {
      const float* xs = x + s * per;
      const float* ys = y + s * per;
      double d = 0, r = 0;
      for (int64_t i = 0; i < per; ++i) {
        const double e = static_cast<double>(xs[i]) - ys[i];
        d += e * e;
        r += static_cast<double>(ys[i]) * ys[i];
      }
      diff2[static_cast<size_t>(s)] += d;
      ref2[static_cast<size_t>(s)] += r;
    }
    if (!top1_done && per > 1) {
      top1_done = true;
      for (int64_t s = 0; s < samples; ++s) {
        const float* xs = x + s * per;
        const float* ys = y + s * per;
        int64_t ax = 0, ay = 0;
        for (int64_t i = 1; i < per; ++i) {
          if (xs[i] > xs[ax]) ax = i;
          if (ys[i] > ys[ay]) ay = i;
        }
        ++result.compared;
        if (ax == ay) ++result.agreed;
      }
    }
  }
  for (int64_t s = 0; s < std::max<int64_t>(samples, 0); ++s) {
    const double d = std::sqrt(diff2[static_cast<size_t>(s)]);
    const double r = std::sqrt(ref2[static_cast<size_t>(s)]);
    // A zero reference: exact when the int8 output is zero too, else "total".
    result.relative_errors.push_back(r > 0 ? d / r : (d > 0 ? 1.0 : 0.0));
  }
  return result;
}

}  // namespace q8::server::metrics
