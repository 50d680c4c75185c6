// Quantize(): validate -> calibrate -> build int8 candidate -> accuracy check
// -> fallback of sensitive layers down the ladder int8 -> bf16 -> fp32 ->
// report -> artifact.
#include "engine/quantize.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "core/status_macros.h"
#include "engine/exception_guard.h"
#include "engine/model_builder.h"
#include "engine/quant/accuracy_check.h"
#include "engine/quant/artifact.h"
#include "engine/quant/bf16_speed.h"
#include "engine/quant/equalization.h"
#include "engine/quant/quantizer.h"
#include "engine/quant/smoothquant.h"
#include "kernels/program.h"

namespace q8::engine {
namespace {

constexpr int kMaxFallbackSteps = 16;
constexpr int64_t kSqnrRows = 64;

// How the samples are used, per group: the last eval_fraction of each group
// is held out for the accuracy check (no hold-out: the check runs on the
// calibration rows), and max_samples calibration rows are shared among the
// groups in proportion to their size (at least one row each, so every
// group's shapes are calibrated).
struct SampleSplit {
  std::vector<int64_t> calibrate;                     // rows [0, calibrate[g]) calibrate
  std::vector<std::pair<int64_t, int64_t>> evaluate;  // rows [first, second) evaluate
  int64_t calibration_samples = 0, eval_samples = 0;
};

SampleSplit SplitSamples(const std::vector<SampleGroup>& groups, const QuantizationOptions& options) {
  SampleSplit split;
  std::vector<int64_t> available;
  int64_t total = 0;
  for (const SampleGroup& g : groups) {
    const int64_t n = g.rows;
    int64_t n_eval = static_cast<int64_t>(std::llround(n * options.eval_fraction));
    if (options.eval_fraction > 0 && n >= 2) n_eval = std::clamp<int64_t>(n_eval, 1, n - 1);
    const int64_t eval_begin = n_eval > 0 ? n - n_eval : 0;
    split.evaluate.push_back({eval_begin, n});
    split.eval_samples += n - eval_begin;
    available.push_back(n - n_eval);
    total += n - n_eval;
  }
  for (int64_t a : available) {
    const int64_t share = total <= options.max_samples ? a : std::max<int64_t>(1, a * options.max_samples / total);
    split.calibrate.push_back(std::min(a, share));
    split.calibration_samples += split.calibrate.back();
  }
  return split;
}

double MedianLatencyMs(const CompiledModel& model, int64_t batch) {
  batch = std::min(batch, model.max_batch_size());
  std::vector<core::Tensor> inputs;
  std::vector<core::TensorView> views;
  if (!model.can_warm_up()) return 0;
  const std::vector<core::Dims> dims = model.ExampleInputDims(batch);
  for (size_t i = 0; i < dims.size(); ++i) {
    inputs.emplace_back(model.inputs()[i].dtype, dims[i]);
    views.push_back(inputs.back().view());
  }
  if (!model.Run(views).ok()) return 0;
  std::vector<double> ms;
  const auto budget = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (ms.size() < 3 || (ms.size() < 15 && std::chrono::steady_clock::now() < budget)) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!model.Run(views).ok()) return 0;
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

// The noise a layer adds, relative to its output signal, in dB (higher = more
// sensitive): 10*log10(N_out/S_out - N_in/S_in). Differences of SQNRs would
// rank a layer going from exact (100 dB) to 44 dB above one going from 44 to
// 37 dB, although the second adds four times more noise.
double AddedNoiseDb(double in_sqnr_db, double out_sqnr_db) {
  const double added = std::pow(10.0, -out_sqnr_db / 10) - std::pow(10.0, -in_sqnr_db / 10);
  return 10.0 * std::log10(std::max(added, 1e-10));
}

struct Candidate {
  std::shared_ptr<const QuantSpec> spec;
  std::shared_ptr<OnnxModel> model;
  Evaluation eval;
  double drop = 0;
  DropTest test;  // exceeds: the drop is above max_drop with the configured confidence
  std::set<int> fp32_layers;
  std::set<int> bf16_layers;
};

// "drop 2.10 pt, 95 % bounds 1.20..3.40 pt, 300 samples": the check a layer failed.
std::string DescribeCheck(const DropTest& t) {
  return absl::StrFormat("drop %.2f pt, %.0f %% bounds %.2f..%.2f pt, %d samples", 100 * t.observed, 100 * t.confidence,
                         100 * t.low, 100 * t.high, t.samples);
}

// The rung below int8 on this CPU: bf16 unless configured away or absent.
bool Bf16Rung(FallbackPrecision f) { return f != FallbackPrecision::kFp32 && kernels::HasBf16Compute(); }

// Why a layer left int8 for the rung it ended on (`int8_check`: the model
// with it still int8; `bf16_check`: with it in bf16, when that was tried;
// `speed`: the size rule's verdict, under `auto` on a bf16 CPU).
std::string FallbackReason(bool bf16, FallbackPrecision f, const DropTest& int8_check,
                           const std::optional<DropTest>& bf16_check, const std::optional<Bf16Speed>& speed) {
  const std::string failed = absl::StrCat("int8 failed the accuracy check (", DescribeCheck(int8_check), ")");
  if (bf16 && speed) return absl::StrCat("bf16: ", failed, "; bf16 ", speed->why);
  if (bf16) return absl::StrCat("bf16: ", failed, f == FallbackPrecision::kBf16 ? "; fallback bf16 configured" : "");
  if (bf16_check) return absl::StrCat("fp32: bf16 still failed the accuracy check (", DescribeCheck(*bf16_check), ")");
  if (speed && !speed->faster) return absl::StrCat("fp32: ", failed, "; bf16 ", speed->why);
  if (f == FallbackPrecision::kFp32) return absl::StrCat("fp32: ", failed, "; fallback fp32 configured");
  return absl::StrCat("fp32: ", failed, "; this CPU (", kernels::CpuIsa(), ") has no bf16 compute");
}

// What the plan runs each layer in, from the precision stage: a static int8
// layer runs int8 only when its input is quantized, a bf16 one bf16 only
// where the CPU has it.
std::string PrecisionOf(const QuantSpec& spec, const NodePrecision& np, int node) {
  if (np.inputs[0].dtype == core::DataType::kBFloat16) return "bf16";
  auto it = spec.layers.find(node);
  if (it == spec.layers.end()) return "fp32";
  if (it->second.dynamic) return "int8-dynamic";
  return np.inputs[0].is_int8() ? "int8" : "fp32";
}

void FillLayerReports(const Graph& g, const LoweredGraph& fp32, const QuantSpec& spec,
                      const std::map<ValueId, double>& sqnr, const std::map<int, std::string>& reasons,
                      QuantizationReport& report) {
  auto sqnr_of = [&](ValueId v) {
    auto it = sqnr.find(v);
    return it == sqnr.end() ? 100.0 : it->second;
  };
  const std::vector<NodePrecision> precision = AssignPrecision(g, fp32.lowerings, &spec);
  for (int i : QuantizableLayers(fp32)) {
    const Node& n = g.nodes()[i];
    const ValueId in = n.inputs[fp32.lowerings[i].runtime_inputs[0]];
    const NodePrecision& np = precision[i];
    LayerReport l;
    l.node = n.name;
    l.op = n.op_type;
    l.precision = PrecisionOf(spec, np, i);
    // A reason recorded for a rung the final candidate did not keep is stale.
    if (auto r = reasons.find(i); r != reasons.end() && absl::StartsWith(r->second, l.precision + ":")) {
      l.reason = r->second;
    } else if (l.precision == "fp32") {
      l.reason = "fp32: not quantized (its input has no int8 scale, or its weights come at run time)";
    } else {
      l.reason = absl::StrCat(l.precision, report.eval_samples > 0 ? ": passed the accuracy check" : "");
    }
    l.input_dtype = std::string(core::OipName(np.inputs[0].dtype));
    if (np.inputs[0].is_int8()) {
      l.input_scale = np.inputs[0].scale;
      l.input_zero_point = np.inputs[0].zero_point;
      l.input_scheme = l.input_zero_point != 0 ? "asymmetric" : "symmetric";
    }
    if (np.output.is_int8()) l.output_scale = np.output.scale;
    if (auto lq = spec.layers.find(i); lq != spec.layers.end()) {
      l.weight_scale_min = *std::min_element(lq->second.weight_scales.begin(), lq->second.weight_scales.end());
      l.weight_scale_max = *std::max_element(lq->second.weight_scales.begin(), lq->second.weight_scales.end());
    }
    l.sqnr_db = sqnr_of(n.outputs[0]);
    l.sensitivity_db = AddedNoiseDb(sqnr_of(in), l.sqnr_db);
    ++report.precision_layers[l.precision == "int8-dynamic" ? "int8" : l.precision];
    report.layers.push_back(std::move(l));
  }
  // Activation x activation MatMuls (attention's Q.K^T and attention.V) have
  // no weights to quantize and run f32 (BENCHMARKS.md, "Attention matmuls":
  // at small shapes int8 loses once its operands must be quantized); listed
  // so the report shows every matmul's precision.
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node& n = g.nodes()[i];
    const auto* mm = std::get_if<kernels::MatMulParams>(&fp32.lowerings[i].params);
    if (n.removed || mm == nullptr || mm->weights != nullptr || fp32.lowerings[i].runtime_inputs.size() != 2) continue;
    LayerReport l;
    l.node = n.name;
    l.op = n.op_type;
    l.precision = "fp32";
    l.reason =
        "fp32: activation x activation matmul (no weights; int8 loses to f32 at these shapes once both "
        "operands need quantizing, BENCHMARKS.md \"Attention matmuls\")";
    l.input_dtype = std::string(core::OipName(core::DataType::kFloat32));
    l.sqnr_db = sqnr_of(n.outputs[0]);
    l.sensitivity_db = AddedNoiseDb(sqnr_of(n.inputs[fp32.lowerings[i].runtime_inputs[0]]), l.sqnr_db);
    report.layers.push_back(std::move(l));
  }
}

}  // namespace

static absl::StatusOr<QuantizationResult> QuantizeUnguarded(absl::string_view onnx_bytes, const CompileOptions& compile,
                                                            const QuantizationOptions& options,
                                                            const CalibrationData* data, const ProgressFn& progress) {
  const absl::Time start = absl::Now();
  Q8_RETURN_IF_ERROR(ValidateOptions(options));
  Q8_ASSIGN_OR_RETURN(PreparedGraph prepared, PrepareGraph(onnx_bytes, compile));
  // Before anything is built from the graph: the fp32 reference, calibration
  // and every candidate all see the equalized weights (same float function).
  const Equalization equalization = options.mode == QuantMode::kNone ? Equalization::kOff : options.equalization;
  const AppliedEqualization equalized = ApplyEqualization(prepared, equalization, options.per_channel);
  Q8_ASSIGN_OR_RETURN(std::shared_ptr<OnnxModel> fp32, BuildModel(prepared, compile));
  QuantizationResult result;
  result.fp32_model = fp32;
  QuantizationReport& report = result.report;
  report.mode = ToString(options.mode);
  report.max_drop = options.max_drop;
  report.isa = fp32->report().isa;

  if (options.mode == QuantMode::kStatic && data == nullptr) {
    return absl::FailedPreconditionError(
        "static quantization needs calibration data: send file:calibration/inputs.npy (and optionally "
        "file:calibration/labels.npy), file:calibration/inputs.npz for a model with several inputs, or choose "
        "quantization mode \"dynamic\" or \"none\"");
  }
  std::vector<SampleGroup> groups;
  if (data != nullptr) {
    Q8_ASSIGN_OR_RETURN(groups, ResolveCalibration(*fp32, *data));
  }
  const bool labels = !groups.empty() && groups[0].labels != nullptr;
  const AccuracyMetric metric = options.metric.value_or(labels ? AccuracyMetric::kTop1 : AccuracyMetric::kAgreement);
  if (metric == AccuracyMetric::kTop1 && data != nullptr && !labels) {
    return absl::InvalidArgumentError(
        "accuracy.metric \"top1\" needs labels: send file:calibration/labels.npy or use \"agreement\"");
  }
  report.metric = ToString(metric);
  report.has_labels = labels;

  const SampleSplit split = SplitSamples(groups, options);
  report.calibration_samples = options.mode == QuantMode::kStatic ? split.calibration_samples : 0;
  report.eval_samples = split.eval_samples;
  if (options.mode == QuantMode::kStatic) report.method = ToString(options.method);

  std::optional<EvalSet> eval;
  if (!groups.empty()) {
    Q8_ASSIGN_OR_RETURN(eval, MakeEvalSet(*fp32, groups, split.evaluate));
    report.fp32_top1 = eval->fp32_top1;
  }

  CompileOptions capture_options = compile;
  capture_options.warmup_batch_sizes = {};
  // Calibration over one version of the graph (smoothed or not): its capture
  // model and every tensor's statistics.
  struct Calibrated {
    CaptureGraph capture;
    std::shared_ptr<OnnxModel> model;
    std::map<ValueId, ValueStats> stats;
  };
  auto calibrate = [&](const PreparedGraph& g, bool histograms) -> absl::StatusOr<Calibrated> {
    Calibrated c{MakeCaptureGraph(g), nullptr, {}};
    Q8_ASSIGN_OR_RETURN(c.model, BuildModel(c.capture.prepared, capture_options));
    Q8_ASSIGN_OR_RETURN(c.stats, CollectStats(c.capture, *c.model, groups, split.calibrate, histograms, progress));
    return c;
  };
  const bool histograms = options.method != CalibrationMethod::kMinMax;

  // SmoothQuant rewrites the float constants before the statistics the
  // quantizer uses are taken, so every later step (calibration, spec,
  // artifact, export) sees one consistent smoothed graph.
  std::vector<ChannelRescale> rescales;
  if (options.mode == QuantMode::kStatic && options.smoothquant.enabled) {
    if (progress) progress({"smoothquant", 0, 1, "per-channel activation ranges"});
    Q8_ASSIGN_OR_RETURN(Calibrated plain, calibrate(prepared, false));
    ChannelRanges ranges;
    for (auto& [v, st] : plain.stats) ranges[v] = std::move(st.last_axis_absmax);
    // alpha "auto" scores each alpha by the int8 output's SQNR against fp32
    // on calibration rows (the held-out rows stay for the accuracy check).
    std::optional<EvalSet> cal_rows;
    if (options.smoothquant.search) {
      std::vector<std::pair<int64_t, int64_t>> rows;
      for (int64_t n : split.calibrate) rows.emplace_back(0, std::min<int64_t>(n, kSqnrRows));
      Q8_ASSIGN_OR_RETURN(cal_rows, MakeEvalSet(*fp32, groups, rows));
    }
    auto score = [&](const PreparedGraph& g) -> absl::StatusOr<double> {
      Q8_ASSIGN_OR_RETURN(Calibrated c, calibrate(g, histograms));
      std::unique_ptr<Graph> spec_graph;
      Q8_ASSIGN_OR_RETURN(LoweredGraph lowered, LowerForAnalysis(*g.graph, g.opset, nullptr, &spec_graph));
      Q8_ASSIGN_OR_RETURN(QuantSpec spec, BuildQuantSpec(lowered, c.stats, options, {}));
      Q8_ASSIGN_OR_RETURN(auto model,
                          BuildModel(g, capture_options, std::make_shared<const QuantSpec>(std::move(spec))));
      Q8_ASSIGN_OR_RETURN(Evaluation e, Evaluate(*model, *cal_rows));
      return e.sqnr_db;
    };
    Q8_ASSIGN_OR_RETURN(SmoothQuantResult sq, RunSmoothQuant(prepared, options.smoothquant, ranges, score));
    prepared = std::move(sq.prepared);
    rescales = std::move(sq.rescales);
    report.smoothing = std::move(sq.report);
    report.smoothing_skipped = std::move(sq.skipped);
    report.smoothing_search = std::move(sq.search);
  }

  std::unique_ptr<Graph> specialized;
  Q8_ASSIGN_OR_RETURN(LoweredGraph fp32_lowered,
                      LowerForAnalysis(*prepared.graph, prepared.opset, nullptr, &specialized));
  CaptureGraph capture;
  std::shared_ptr<OnnxModel> fp32_capture;
  std::map<ValueId, ValueStats> stats;
  if (options.mode == QuantMode::kStatic) {
    Q8_ASSIGN_OR_RETURN(Calibrated c, calibrate(prepared, histograms));
    capture = std::move(c.capture);
    fp32_capture = std::move(c.model);
    stats = std::move(c.stats);
  }

  auto build = [&](std::set<int> fp32_layers, std::set<int> bf16_layers) -> absl::StatusOr<Candidate> {
    Candidate c;
    c.fp32_layers = std::move(fp32_layers);
    c.bf16_layers = std::move(bf16_layers);
    std::set<int> float_layers = c.fp32_layers;
    float_layers.insert(c.bf16_layers.begin(), c.bf16_layers.end());
    Q8_ASSIGN_OR_RETURN(QuantSpec spec, BuildQuantSpec(fp32_lowered, stats, options, float_layers));
    spec.equalized = equalized.applied;
    spec.bf16_layers = c.bf16_layers;
    c.spec = std::make_shared<const QuantSpec>(std::move(spec));
    Q8_ASSIGN_OR_RETURN(c.model, BuildModel(prepared, compile, c.spec));
    if (eval) {
      Q8_ASSIGN_OR_RETURN(c.eval, Evaluate(*c.model, *eval));
      c.drop = Drop(c.eval, *eval, metric);
      c.test = TestDrop(c.eval, *eval, metric, options.max_drop, options.confidence);
    }
    return c;
  };
  if (progress) progress({"quantization", 0, 1, "building the int8 model"});
  Q8_ASSIGN_OR_RETURN(Candidate best, build({}, {}));
  if (progress) progress({"evaluation", 1, 1, absl::StrCat("drop ", best.drop)});

  std::map<ValueId, double> sqnr;
  auto measure_sqnr = [&](const Candidate& c) -> absl::Status {
    if (!eval || options.mode != QuantMode::kStatic) return absl::OkStatus();
    Q8_ASSIGN_OR_RETURN(auto capture_int8, BuildModel(capture.prepared, capture_options, c.spec));
    Q8_ASSIGN_OR_RETURN(sqnr, PerTensorSqnr(capture, *fp32_capture, *capture_int8, *eval, kSqnrRows));
    return absl::OkStatus();
  };
  Q8_RETURN_IF_ERROR(measure_sqnr(best));

  // Fall back only on a drop that is real at the configured confidence: one
  // flipped prediction in a small evaluation set is not (issue #13 item 5).
  std::map<int, std::string> reasons;  // layer -> why it left int8
  report.fallback = ToString(options.fallback);
  report.activations = ToString(options.activations);
  report.fallback_resolved = Bf16Rung(options.fallback) ? "bf16" : "fp32";
  if (eval && best.test.exceeds && options.mode != QuantMode::kNone) {
    // Rank int8 layers by the noise they add and return them to fp32 one at a time.
    std::vector<std::pair<double, int>> ranked;
    for (const auto& [i, lq] : best.spec->layers) {
      const Node& node = prepared.graph->nodes()[i];
      const ValueId in = node.inputs[fp32_lowered.lowerings[i].runtime_inputs[0]];
      const double in_sqnr = sqnr.count(in) ? sqnr[in] : 100.0;
      const double out_sqnr = sqnr.count(node.outputs[0]) ? sqnr[node.outputs[0]] : 100.0;
      ranked.push_back({AddedNoiseDb(in_sqnr, out_sqnr), i});
    }
    std::stable_sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.first > b.first; });
    // Down the ladder, most sensitive layer first: bf16 where this CPU has
    // it (stop if the check passes), then, under `auto`, fp32 if bf16 did
    // not pass. fp32 is kept only when it passes: when neither does, the
    // damage is elsewhere (e.g. in a neighbour's int8 output this layer
    // reads), so the layer stays at the cheaper bf16 and the next follows.
    // (On the Fashion CNN with clipped ranges, the first conv at fp32 was 2
    // rows of 313 "better" than at bf16, both failing; once the next layer
    // left int8 the bf16 version passed.)
    const bool bf16_rung = Bf16Rung(options.fallback);
    // Under `auto`, bf16 only where it is also faster than fp32 (bf16_speed.h).
    const std::map<int, int64_t> macs = bf16_rung && options.fallback == FallbackPrecision::kAuto
                                            ? LayerMacs(fp32_lowered, QuantizableLayers(fp32_lowered))
                                            : std::map<int, int64_t>{};
    const int64_t min_macs = options.bf16_min_macs.value_or(kBf16MinMacs);
    std::set<int> fp32_layers, bf16_layers;
    DropTest last = best.test;  // the check of the latest candidate, this layer still int8
    const int steps = std::min<int>(kMaxFallbackSteps, static_cast<int>(ranked.size()));
    for (int k = 0; k < steps; ++k) {
      const int layer = ranked[k].second;
      const std::string& name = prepared.graph->nodes()[layer].name;
      const DropTest int8_check = last;
      std::optional<Bf16Speed> speed;
      if (auto m = macs.find(layer); m != macs.end()) speed = PredictBf16Speed(m->second, min_macs);
      std::optional<Candidate> bf16;
      if (bf16_rung && (!speed || speed->faster)) {
        bf16_layers.insert(layer);
        Q8_ASSIGN_OR_RETURN(bf16, build(fp32_layers, bf16_layers));
        if (progress) progress({"fallback", k + 1, steps, absl::StrCat(name, " -> bf16, drop ", bf16->drop)});
        last = bf16->test;
        reasons[layer] = FallbackReason(true, options.fallback, int8_check, std::nullopt, speed);
      }
      std::optional<Candidate> fp32;
      if (!bf16 || (bf16->test.exceeds && options.fallback == FallbackPrecision::kAuto)) {
        bf16_layers.erase(layer);
        fp32_layers.insert(layer);
        Q8_ASSIGN_OR_RETURN(fp32, build(fp32_layers, bf16_layers));
        if (progress) progress({"fallback", k + 1, steps, absl::StrCat(name, " -> fp32, drop ", fp32->drop)});
        if (bf16 && fp32->test.exceeds) {
          fp32_layers.erase(layer);  // fp32 does not pass either: keep bf16
          bf16_layers.insert(layer);
          fp32.reset();
        } else {
          last = fp32->test;
          reasons[layer] = FallbackReason(false, options.fallback, int8_check,
                                          bf16 ? std::optional<DropTest>(bf16->test) : std::nullopt, speed);
        }
      }
      Candidate& c = fp32 ? *fp32 : *bf16;
      const bool met = !c.test.exceeds;
      if (met || c.drop < best.drop) best = std::move(c);
      if (met) break;
    }
    // Still failing with every tried layer off int8: under `auto`, move the
    // bf16 ones on to fp32, most sensitive first, until the check passes (a
    // zero max_drop can need it: bf16 flips a near-tie now and then).
    if (best.test.exceeds && options.fallback == FallbackPrecision::kAuto) {
      for (int k = 0; k < steps && best.test.exceeds; ++k) {
        const int layer = ranked[k].second;
        if (!bf16_layers.count(layer)) continue;
        const DropTest bf16_check = last;
        bf16_layers.erase(layer);
        fp32_layers.insert(layer);
        Q8_ASSIGN_OR_RETURN(Candidate c, build(fp32_layers, bf16_layers));
        if (progress) {
          progress({"fallback", k + 1, steps,
                    absl::StrCat(prepared.graph->nodes()[layer].name, " bf16 -> fp32, drop ", c.drop)});
        }
        last = c.test;
        reasons[layer] = FallbackReason(false, options.fallback, bf16_check, bf16_check, std::nullopt);
        if (!c.test.exceeds || c.drop < best.drop) best = std::move(c);
      }
    }
    if (best.test.exceeds) {
      for (const auto& [s, i] : ranked) {
        if (!best.fp32_layers.count(i) && !best.bf16_layers.count(i) && report.blocking_layers.size() < 3) {
          report.blocking_layers.push_back(prepared.graph->nodes()[i].name);
        }
      }
    }
    Q8_RETURN_IF_ERROR(measure_sqnr(best));
  }
  for (int i : best.fp32_layers) report.fallback_layers.push_back(prepared.graph->nodes()[i].name);
  for (int i : best.bf16_layers) report.bf16_layers.push_back(prepared.graph->nodes()[i].name);
  report.target_met = !eval || !best.test.exceeds;
  report.drop = best.drop;
  report.confidence = options.confidence;
  report.drop_low = best.test.low;
  report.drop_high = best.test.high;
  report.drop_p_value = best.test.p_value;
  report.drop_worse = best.test.worse;
  report.drop_better = best.test.better;
  report.more_samples_needed = eval.has_value() && best.test.more_samples_needed;
  report.int8_top1 = best.eval.top1;
  report.agreement = eval ? best.eval.agreement : 1.0;
  report.output_sqnr_db = eval ? best.eval.sqnr_db : 0.0;
  FillLayerReports(*prepared.graph, fp32_lowered, *best.spec, sqnr, reasons, report);
  ReportEqualization(*prepared.graph, equalization, equalized, stats.empty() ? nullptr : &stats, report);

  if (progress) progress({"benchmark", 0, 1, "fp32 vs int8 latency"});
  report.latency_fp32_b1_ms = MedianLatencyMs(*fp32, 1);
  report.latency_int8_b1_ms = MedianLatencyMs(*best.model, 1);
  report.latency_fp32_b16_ms = MedianLatencyMs(*fp32, 16);
  report.latency_int8_b16_ms = MedianLatencyMs(*best.model, 16);
  report.weight_bytes_fp32 = fp32->memory().weights;
  const MemoryStats served = best.model->memory();
  report.weight_bytes_int8 = served.weights;
  report.SummarizePrecision(served.weights, served.weights_int8, served.weights_bf16);
  report.quantization_seconds = absl::ToDoubleSeconds(absl::Now() - start);

  result.model = best.model;
  result.artifact = SerializeArtifact(*prepared.graph, *best.spec, options, onnx_bytes, rescales);
  return result;
}

static absl::StatusOr<QuantizationResult> LoadQuantizedUnguarded(absl::string_view onnx_bytes,
                                                                 absl::string_view artifact,
                                                                 absl::string_view report_json,
                                                                 const CompileOptions& compile) {
  Q8_ASSIGN_OR_RETURN(PreparedGraph plain, PrepareGraph(onnx_bytes, compile));
  // The graph the artifact was made on: the float one equalized again (when
  // it was) and with its recorded channel rescales (SmoothQuant) folded in.
  if (ArtifactEqualized(artifact)) ApplyEqualization(plain, Equalization::kOn, true);
  Q8_ASSIGN_OR_RETURN(PreparedGraph prepared, ApplyArtifactRescales(plain, artifact));
  std::unique_ptr<Graph> specialized;
  Q8_ASSIGN_OR_RETURN(LoweredGraph fp32_lowered,
                      LowerForAnalysis(*prepared.graph, prepared.opset, nullptr, &specialized));
  Q8_ASSIGN_OR_RETURN(ParsedArtifact parsed, ParseArtifact(fp32_lowered, std::string(artifact), onnx_bytes));
  QuantizationResult result;
  Q8_ASSIGN_OR_RETURN(result.fp32_model, BuildModel(plain, compile));
  auto spec = std::make_shared<const QuantSpec>(std::move(parsed.spec));
  Q8_ASSIGN_OR_RETURN(result.model, BuildModel(prepared, compile, spec));
  Q8_ASSIGN_OR_RETURN(result.report, QuantizationReport::FromJson(std::string(report_json)));
  result.artifact = std::string(artifact);
  return result;
}

absl::StatusOr<QuantizationResult> Quantize(absl::string_view onnx_bytes, const CompileOptions& compile,
                                            const QuantizationOptions& options, const CalibrationData* data,
                                            const ProgressFn& progress) {
  return GuardExceptions("quantizing the model",
                         [&] { return QuantizeUnguarded(onnx_bytes, compile, options, data, progress); });
}

absl::StatusOr<QuantizationResult> LoadQuantized(absl::string_view onnx_bytes, absl::string_view artifact,
                                                 absl::string_view report_json, const CompileOptions& compile) {
  return GuardExceptions("loading the quantized model",
                         [&] { return LoadQuantizedUnguarded(onnx_bytes, artifact, report_json, compile); });
}

}  // namespace q8::engine
