// ShadowEvaluator: live accuracy of int8 models. A sampled request's inputs
// and int8 outputs are copied into a bounded queue; one background worker
// runs the version's fp32 reference model on the same inputs and records,
// per sample, top-1 agreement and ||int8 - fp32|| / ||fp32|| in the
// version's ModelMetrics.
//
// Off the critical path: a request only pays for the copy when sampled, and
// never waits. When the queue is full the sample is dropped and counted
// (q8serve_shadow_dropped_total) instead of blocking. One worker thread for
// the whole server, at the lowest scheduling priority (nice 19; oneDNN's
// OpenMP threads it creates inherit that), so shadow work yields the CPU to
// requests instead of competing with them.
//
// Thread safety: Submit() may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "core/tensor.h"
#include "engine/compiled_model.h"
#include "server/metrics/model_metrics.h"

namespace q8::server::metrics {

class ShadowEvaluator {
 public:
  // `capacity`: queued samples at most (the one being evaluated not counted).
  // `start_worker` false leaves jobs queued until Start() (tests).
  explicit ShadowEvaluator(size_t capacity, bool start_worker = true);
  ~ShadowEvaluator();  // stops the worker; queued samples are discarded
  ShadowEvaluator(const ShadowEvaluator&) = delete;
  ShadowEvaluator& operator=(const ShadowEvaluator&) = delete;

  void Start();
  // Copies `inputs` and `outputs` (the served model's) and queues them for
  // `reference`. False, after counting a drop in `metrics`, when the queue is
  // full or the evaluator is stopping.
  bool Submit(std::shared_ptr<ModelMetrics> metrics, std::shared_ptr<const engine::CompiledModel> reference,
              absl::Span<const core::TensorView> inputs, absl::Span<const core::MutableTensorView> outputs);
  // Blocks until nothing is queued or running (tests, benchmarks).
  void WaitIdle();
  size_t queued() const;

  // The comparison, per sample (row of the leading batch dimension):
  // relative error over all FP32 outputs present in both; top-1 agreement on
  // the first FP32 output with a class dimension (more than one element per
  // sample). Outputs of other types or mismatched sizes are ignored.
  static ShadowResult Compare(absl::Span<const core::Tensor> served, absl::Span<const core::Tensor> reference);

 private:
  struct Job {
    std::shared_ptr<ModelMetrics> metrics;
    std::shared_ptr<const engine::CompiledModel> reference;
    std::vector<core::Tensor> inputs;
    std::vector<core::Tensor> outputs;
  };
  void Run();
  static void Evaluate(Job& job);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // work queued or stopping
  std::condition_variable idle_cv_;  // queue drained
  std::deque<Job> queue_;
  size_t reserved_ = 0;  // slots taken by Submit() calls still copying
  bool busy_ = false;    // the worker is evaluating a job
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace q8::server::metrics
