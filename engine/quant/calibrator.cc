// Statistics collection over the capture model.
#include "engine/quant/calibrator.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace q8::engine {
namespace {

constexpr int64_t kCalibrationBatch = 16;

}  // namespace

CaptureGraph MakeCaptureGraph(const PreparedGraph& prepared) {
  auto graph = std::make_shared<Graph>(*prepared.graph);
  CaptureGraph capture;
  capture.first_capture_output = graph->outputs().size();
  std::vector<bool> seen(graph->num_values(), false);
  auto add = [&](ValueId v) {
    if (v == kNoValue || seen[v] || graph->IsConstant(v)) return;
    seen[v] = true;
    capture.values.push_back(v);
    graph->outputs().push_back({absl::StrCat("__q8_capture_", v), v});
  };
  for (const GraphInput& in : graph->inputs()) add(in.value);
  for (const Node& n : graph->nodes()) {
    for (ValueId in : n.inputs) add(in);
    add(n.outputs.empty() ? kNoValue : n.outputs[0]);
  }
  capture.prepared = prepared;
  capture.prepared.graph = std::move(graph);
  return capture;
}

absl::Status RunInBatches(const CompiledModel& model, const core::Tensor& samples, int64_t begin, int64_t end,
                          int64_t batch, const std::function<absl::Status(std::vector<core::Tensor>&)>& sink) {
  const int64_t row = samples.num_elements() / std::max<int64_t>(samples.dims()[0], 1);
  batch = std::min(batch, model.max_batch_size());
  for (int64_t b = begin; b < end; b += batch) {
    const int64_t n = std::min(batch, end - b);
    core::Dims dims = samples.dims();
    dims[0] = n;
    core::TensorView view{samples.dtype(), dims,
                          static_cast<const char*>(samples.data()) + b * row * core::SizeOf(samples.dtype())};
    Q8_ASSIGN_OR_RETURN(std::vector<core::Tensor> outputs, model.Run({view}));
    Q8_RETURN_IF_ERROR(sink(outputs));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<ValueId, ValueStats>> CollectStats(const CaptureGraph& capture, const CompiledModel& model,
                                                           const core::Tensor& samples, int64_t count,
                                                           bool histograms, const ProgressFn& progress) {
  std::map<ValueId, ValueStats> stats;
  std::map<ValueId, std::vector<double>> sums;
  std::map<ValueId, int64_t> per_channel_count;
  for (ValueId v : capture.values) {
    stats[v].min = std::numeric_limits<float>::infinity();
    stats[v].max = -std::numeric_limits<float>::infinity();
  }
  int64_t done = 0;
  auto first_pass = [&](std::vector<core::Tensor>& outs) -> absl::Status {
    for (size_t i = 0; i < capture.values.size(); ++i) {
      const core::Tensor& t = outs[capture.first_capture_output + i];
      ValueStats& s = stats[capture.values[i]];
      auto data = t.span<float>();
      for (float x : data) {
        s.min = std::min(s.min, x);
        s.max = std::max(s.max, x);
      }
      if (t.dims().size() >= 2 && t.num_elements() > 0) {
        const int64_t c = t.dims()[1];
        int64_t inner = 1;
        for (size_t d = 2; d < t.dims().size(); ++d) inner *= t.dims()[d];
        auto& sum = sums[capture.values[i]];
        sum.resize(c, 0.0);
        for (int64_t n = 0; n < t.dims()[0]; ++n) {
          for (int64_t ch = 0; ch < c; ++ch) {
            const float* p = data.data() + (n * c + ch) * inner;
            double acc = 0;
            for (int64_t k = 0; k < inner; ++k) acc += p[k];
            sum[ch] += acc;
          }
        }
        per_channel_count[capture.values[i]] += t.dims()[0] * inner;
      }
    }
    done += outs[0].dims().empty() ? 0 : outs[0].dims()[0];
    if (progress) progress({"calibration", done, histograms ? 2 * count : count, "ranges"});
    return absl::OkStatus();
  };
  Q8_RETURN_IF_ERROR(RunInBatches(model, samples, 0, count, kCalibrationBatch, first_pass));
  for (auto& [v, sum] : sums) {
    auto& mean = stats[v].channel_mean;
    for (double s : sum) mean.push_back(s / std::max<int64_t>(per_channel_count[v], 1));
  }
  if (!histograms) return stats;

  for (ValueId v : capture.values) {
    ValueStats& s = stats[v];
    s.histogram.emplace(std::max(std::abs(s.min), std::abs(s.max)));
  }
  auto second_pass = [&](std::vector<core::Tensor>& outs) -> absl::Status {
    for (size_t i = 0; i < capture.values.size(); ++i) {
      stats[capture.values[i]].histogram->Add(outs[capture.first_capture_output + i].span<float>());
    }
    done += outs[0].dims().empty() ? 0 : outs[0].dims()[0];
    if (progress) progress({"calibration", done, 2 * count, "histograms"});
    return absl::OkStatus();
  };
  Q8_RETURN_IF_ERROR(RunInBatches(model, samples, 0, count, kCalibrationBatch, second_pass));
  return stats;
}

}  // namespace q8::engine
