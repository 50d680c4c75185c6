// Statistics collection over the capture model.
#include "engine/quant/calibrator.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/plan/specialize.h"

namespace q8::engine {
namespace {

constexpr int64_t kCalibrationBatch = 16;

}  // namespace

CaptureGraph MakeCaptureGraph(const PreparedGraph& prepared) {
  auto graph = std::make_shared<Graph>(*prepared.graph);
  CaptureGraph capture;
  capture.first_capture_output = graph->outputs().size();
  // Shape arithmetic folded per plan is not captured (it is no activation,
  // and a folded empty shape vector cannot be a plan output).
  std::vector<bool> seen = PlanConstantValues(*graph);
  auto add = [&](ValueId v) {
    if (v == kNoValue || seen[v]) return;
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

namespace {

// The batch size a model whose file fixes its first input dimension accepts
// (0 when that dimension is dynamic).
int64_t FixedBatch(const CompiledModel& model) {
  if (model.inputs().empty() || model.inputs()[0].dims.empty()) return 0;
  const int64_t d = model.inputs()[0].dims[0];
  return d == core::kDynamicDim ? 0 : d;
}

// The first `n` rows of each output whose first dimension is the batch `batch`.
void KeepRows(std::vector<core::Tensor>& outputs, int64_t batch, int64_t n) {
  for (core::Tensor& t : outputs) {
    if (t.dims().empty() || t.dims()[0] != batch || n == batch) continue;
    core::Dims dims = t.dims();
    dims[0] = n;
    core::Tensor rows(t.dtype(), dims);
    std::memcpy(rows.data(), t.data(), rows.byte_size());
    t = std::move(rows);
  }
}

}  // namespace

absl::Status RunInBatches(const CompiledModel& model, const core::Tensor& samples, int64_t begin, int64_t end,
                          int64_t batch, const std::function<absl::Status(std::vector<core::Tensor>&)>& sink) {
  const int64_t row = samples.num_elements() / std::max<int64_t>(samples.dims()[0], 1);
  const int64_t row_bytes = row * core::SizeOf(samples.dtype());
  const int64_t fixed = FixedBatch(model);
  // A model that fixes its batch size runs in exactly that size: the last,
  // partial batch is padded with copies of its last row, whose outputs are dropped.
  batch = fixed > 0 ? fixed : std::min(batch, model.max_batch_size());
  core::Tensor padded;
  for (int64_t b = begin; b < end; b += batch) {
    const int64_t n = std::min(batch, end - b);
    const char* first = static_cast<const char*>(samples.data()) + b * row_bytes;
    core::Dims dims = samples.dims();
    dims[0] = fixed > 0 ? fixed : n;
    core::TensorView view{samples.dtype(), dims, first};
    if (fixed > 0 && n < fixed) {
      padded = core::Tensor(samples.dtype(), dims);
      char* dst = static_cast<char*>(padded.data());
      std::memcpy(dst, first, n * row_bytes);
      for (int64_t r = n; r < fixed; ++r) std::memcpy(dst + r * row_bytes, first + (n - 1) * row_bytes, row_bytes);
      view.data = padded.data();
    }
    Q8_ASSIGN_OR_RETURN(std::vector<core::Tensor> outputs, model.Run({view}));
    if (fixed > 0) KeepRows(outputs, fixed, n);
    Q8_RETURN_IF_ERROR(sink(outputs));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<ValueId, ValueStats>> CollectStats(const CaptureGraph& capture, const CompiledModel& model,
                                                           const core::Tensor& samples, int64_t count, bool histograms,
                                                           const ProgressFn& progress) {
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
        s.channel_absmax.resize(c, 0.0f);
        for (int64_t n = 0; n < t.dims()[0]; ++n) {
          for (int64_t ch = 0; ch < c; ++ch) {
            const float* p = data.data() + (n * c + ch) * inner;
            double acc = 0;
            float absmax = s.channel_absmax[ch];
            for (int64_t k = 0; k < inner; ++k) {
              acc += p[k];
              absmax = std::max(absmax, std::abs(p[k]));
            }
            sum[ch] += acc;
            s.channel_absmax[ch] = absmax;
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
