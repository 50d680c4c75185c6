// Statistics collection over the capture model.
#include "engine/quant/calibrator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/passes/channel_scaling.h"
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

absl::Status RunInBatches(const CompiledModel& model, const SampleGroup& samples, int64_t begin, int64_t end,
                          int64_t batch, const std::function<absl::Status(std::vector<core::Tensor>&)>& sink) {
  const int64_t fixed = FixedBatch(model);
  // A model that fixes its batch size runs in exactly that size: the last,
  // partial batch is padded with copies of its last row, whose outputs are dropped.
  batch = fixed > 0 ? fixed : std::min(batch, model.max_batch_size());
  std::vector<int64_t> row_bytes;
  for (const core::Tensor* t : samples.inputs) {
    row_bytes.push_back(t->byte_size() / std::max<int64_t>(t->dims()[0], 1));
  }
  std::vector<core::Tensor> padded(samples.inputs.size());
  std::vector<core::TensorView> views(samples.inputs.size());
  for (int64_t b = begin; b < end; b += batch) {
    const int64_t n = std::min(batch, end - b);
    for (size_t i = 0; i < samples.inputs.size(); ++i) {
      // Every input (float, ids, masks) is fed as it is: rows [b, b + n).
      const core::Tensor& t = *samples.inputs[i];
      const char* first = static_cast<const char*>(t.data()) + b * row_bytes[i];
      core::Dims dims = t.dims();
      dims[0] = fixed > 0 ? fixed : n;
      views[i] = core::TensorView{t.dtype(), dims, first};
      if (fixed > 0 && n < fixed) {
        padded[i] = core::Tensor(t.dtype(), dims);
        char* dst = static_cast<char*>(padded[i].data());
        std::memcpy(dst, first, n * row_bytes[i]);
        for (int64_t r = n; r < fixed; ++r)
          std::memcpy(dst + r * row_bytes[i], first + (n - 1) * row_bytes[i], row_bytes[i]);
        views[i].data = padded[i].data();
      }
    }
    Q8_ASSIGN_OR_RETURN(std::vector<core::Tensor> outputs, model.Run(views));
    if (fixed > 0) KeepRows(outputs, fixed, n);
    Q8_RETURN_IF_ERROR(sink(outputs));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<ValueId, ValueStats>> CollectStats(const CaptureGraph& capture, const CompiledModel& model,
                                                           const std::vector<SampleGroup>& groups,
                                                           const std::vector<int64_t>& counts, bool histograms,
                                                           const ProgressFn& progress) {
  std::map<ValueId, ValueStats> stats;
  std::map<ValueId, std::vector<double>> sums;
  std::map<ValueId, int64_t> per_channel_count;
  std::set<ValueId> floats, ragged;  // seen as float; channel count differs between groups
  for (ValueId v : capture.values) {
    stats[v].min = std::numeric_limits<float>::infinity();
    stats[v].max = -std::numeric_limits<float>::infinity();
  }
  int64_t count = 0;
  for (int64_t c : counts) count += c;
  int64_t done = 0;
  auto first_pass = [&](std::vector<core::Tensor>& outs) -> absl::Status {
    for (size_t i = 0; i < capture.values.size(); ++i) {
      const core::Tensor& t = outs[capture.first_capture_output + i];
      if (t.dtype() != core::DataType::kFloat32) continue;  // ids, masks, shapes: no statistics
      const ValueId v = capture.values[i];
      floats.insert(v);
      ValueStats& s = stats[v];
      auto data = t.span<float>();
      for (float x : data) {
        if (!std::isfinite(x)) continue;  // -inf attention masks: no range to quantize
        s.min = std::min(s.min, x);
        s.max = std::max(s.max, x);
      }
      if (t.dims().size() >= 2 && t.num_elements() > 0) {
        // Per last-axis channel |x| maxima (SmoothQuant's activation side):
        // taken before the ragged check, since a sequence axis may differ
        // between groups while the feature axis does not.
        std::vector<float> batch_amax = AbsMaxAlongAxis(t, static_cast<int>(t.dims().size()) - 1);
        std::vector<float>& amax = s.last_axis_absmax;
        if (amax.size() != batch_amax.size()) amax.assign(batch_amax.size(), 0.0f);
        for (size_t i = 0; i < amax.size(); ++i) amax[i] = std::max(amax[i], batch_amax[i]);
        const int64_t c = t.dims()[1];
        int64_t inner = 1;
        for (size_t d = 2; d < t.dims().size(); ++d) inner *= t.dims()[d];
        auto& sum = sums[v];
        // Means over dim 1 only mean something when every group agrees on its size
        // (a sequence axis there differs between groups).
        if (!sum.empty() && static_cast<int64_t>(sum.size()) != c) ragged.insert(v);
        if (ragged.count(v)) continue;
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
        per_channel_count[v] += t.dims()[0] * inner;
      }
    }
    done += outs[0].dims().empty() ? 0 : outs[0].dims()[0];
    if (progress) progress({"calibration", done, histograms ? 2 * count : count, "ranges"});
    return absl::OkStatus();
  };
  for (size_t g = 0; g < groups.size(); ++g) {
    Q8_RETURN_IF_ERROR(RunInBatches(model, groups[g], 0, counts[g], kCalibrationBatch, first_pass));
  }
  for (auto it = stats.begin(); it != stats.end();) {
    if (it->second.min > it->second.max) it->second.min = it->second.max = 0;  // only empty tensors seen
    it = floats.count(it->first) ? std::next(it) : stats.erase(it);
  }
  for (auto& [v, sum] : sums) {
    if (ragged.count(v)) continue;
    auto& mean = stats[v].channel_mean;
    for (double s : sum) mean.push_back(s / std::max<int64_t>(per_channel_count[v], 1));
  }
  if (!histograms) return stats;

  for (auto& [v, s] : stats) s.histogram.emplace(std::max(std::abs(s.min), std::abs(s.max)));
  auto second_pass = [&](std::vector<core::Tensor>& outs) -> absl::Status {
    for (size_t i = 0; i < capture.values.size(); ++i) {
      auto it = stats.find(capture.values[i]);
      const core::Tensor& t = outs[capture.first_capture_output + i];
      if (it == stats.end() || t.dtype() != core::DataType::kFloat32) continue;
      it->second.histogram->Add(t.span<float>());
    }
    done += outs[0].dims().empty() ? 0 : outs[0].dims()[0];
    if (progress) progress({"calibration", done, 2 * count, "histograms"});
    return absl::OkStatus();
  };
  for (size_t g = 0; g < groups.size(); ++g) {
    Q8_RETURN_IF_ERROR(RunInBatches(model, groups[g], 0, counts[g], kCalibrationBatch, second_pass));
  }
  return stats;
}

}  // namespace q8::engine
