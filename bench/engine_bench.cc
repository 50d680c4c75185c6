// engine_bench: in-process latency of q8serve's fp32 and int8 plans, side by
// side in one run, for each model and batch size. Reports medians over
// repeated timed windows and the int8/fp32 speedup. Not a test: numbers
// depend on the host; ratios from one run are what to compare.
//
// Usage: engine_bench --models DIR:NAME[,...] [--batches 1,16] [--rounds 5]
//   NAME.onnx is read from DIR; calibration uses 32 seeded N(0,1) samples
//   (or DIR/NAME_calibration.npy when present, or DIR/NAME_calibration.npz:
//   one array per graph input, the upload's multi-input form). Timed inputs are seeded
//   N(0,1) for input 0, or, when DIR/NAME_input0.npy exists, the first
//   `batch` rows (cycled) of DIR/NAME_input<k>.npy for every input k (token
//   ids and masks of a text model). A model static int8 cannot take
//   (several inputs) is timed fp32 against dynamic only (--precisions
//   fp32,dynamic). Thread count: OMP_NUM_THREADS.
// For bench/side_by_side.py and bench/profile_int8.py also:
//   --precisions int8      time only these plans (fp32,int8; "dynamic" adds
//                          the uncalibrated mode: dynamic int8 where it pays,
//                          fp32 elsewhere; its table shows fp32, dynamic and
//                          static int8 side by side, windows interleaved)
//   --json FILE            one JSON line per (model, batch) with every window
//   --artifact_dir DIR     reuse DIR/NAME.q8artifact (+ .report.json) instead of
//                          calibrating again, write them when missing, and
//                          write DIR/NAME_int8_qdq.onnx (our QDQ export)
//   --live_artifact_dir D  with "dynamic": a 4th plan from D/NAME.q8artifact
//                          (bench/live_calibration.sh: the live-calibrated one)
//   --profile_runs N       instead of timing windows: N runs per plan between
//                          "# profile begin/end" lines on stdout (for
//                          ONEDNN_VERBOSE, whose lines go to stdout too)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/npy.h"
#include "core/npz.h"
#include "engine/export/qdq_exporter.h"
#include "engine/quantize.h"
#include "kernels/program.h"

ABSL_FLAG(std::string, models, "", "comma-separated DIR:NAME entries (reads DIR/NAME.onnx)");
ABSL_FLAG(std::string, batches, "1,16", "batch sizes");
ABSL_FLAG(int, rounds, 5, "timed windows per measurement (the median is reported)");
ABSL_FLAG(double, window_seconds, 0.5, "length of one timed window");
ABSL_FLAG(std::string, precisions, "fp32,int8", "plans to time");
ABSL_FLAG(std::string, json, "", "append one JSON line per (model, batch) to this file");
ABSL_FLAG(std::string, artifact_dir, "", "cache of quantization artifacts and QDQ exports");
ABSL_FLAG(int, profile_runs, 0, "profile mode: this many runs per plan between markers, no timing table");
ABSL_FLAG(std::string, live_artifact_dir, "",
          "with --precisions dynamic: also time DIR/NAME.q8artifact (+ .report.json), e.g. a live-calibrated one, "
          "interleaved with the others (a 4th plan)");

namespace {

using q8::core::Tensor;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Tensor Normal(q8::core::Dims dims, uint32_t seed) {
  Tensor t(q8::core::DataType::kFloat32, std::move(dims));
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0, 1);
  for (float& v : t.span<float>()) v = d(rng);
  return t;
}

void WriteFile(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// The timed inputs of `model` at `batch` (see the header): rows of
// BASE_input<k>.npy when BASE_input0.npy exists, else N(0,1) for input 0.
std::vector<Tensor> BenchInputs(const q8::engine::CompiledModel& model, const std::string& base, int64_t batch) {
  std::vector<Tensor> out;
  for (size_t k = 0; k < model.inputs().size(); ++k) {
    auto file = q8::core::ReadNpyFile(base + "_input" + std::to_string(k) + ".npy");
    if (!file.ok()) break;
    q8::core::Dims dims = file->dims();
    const int64_t rows = dims[0];
    const int64_t row_bytes = file->num_elements() * static_cast<int64_t>(q8::core::SizeOf(file->dtype())) / rows;
    dims[0] = batch;
    Tensor t(file->dtype(), dims);
    for (int64_t r = 0; r < batch; ++r) {
      std::memcpy(static_cast<char*>(t.data()) + r * row_bytes,
                  static_cast<const char*>(file->data()) + (r % rows) * row_bytes, row_bytes);
    }
    out.push_back(std::move(t));
  }
  if (out.empty()) out.push_back(Normal(q8::core::WithBatch(model.inputs()[0].dims, batch), 7));
  return out;
}

std::vector<q8::core::TensorView> Views(const std::vector<Tensor>& tensors) {
  std::vector<q8::core::TensorView> views;
  for (const Tensor& t : tensors) views.push_back(t.view());
  return views;
}

// Profile mode: `runs` runs between marker lines (after warm-up), with the
// wall time of those runs on the end marker.
void ProfileRuns(const q8::engine::CompiledModel& model, const std::string& base, const std::string& name,
                 const char* precision, int64_t batch, int runs) {
  const std::vector<Tensor> x = BenchInputs(model, base, batch);
  const std::vector<q8::core::TensorView> in = Views(x);
  for (int i = 0; i < 3; ++i) (void)model.Run(in);
  std::printf("# profile begin %s %s %lld %d\n", name.c_str(), precision, static_cast<long long>(batch), runs);
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) (void)model.Run(in);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::fflush(stdout);
  std::printf("# profile end %s %s %lld %d %.4f\n", name.c_str(), precision, static_cast<long long>(batch), runs, ms);
  std::fflush(stdout);
}

std::string JsonList(const std::vector<double>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + std::to_string(v[i]);
  return out + "]";
}

// Median over `rounds` windows of the mean time per run inside each window, in ms.
// `windows` (if not null) gets every window's value.
double MedianMs(const q8::engine::CompiledModel& model, const std::string& base, int64_t batch, int rounds,
                double window, std::vector<double>* windows = nullptr) {
  const std::vector<Tensor> x = BenchInputs(model, base, batch);
  const std::vector<q8::core::TensorView> in = Views(x);
  for (int i = 0; i < 3; ++i) (void)model.Run(in);  // warm-up
  std::vector<double> per_run;
  for (int r = 0; r < rounds; ++r) {
    int n = 0;
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    while (elapsed < window || n < 2) {
      if (!model.Run(in).ok()) return -1;
      ++n;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    per_run.push_back(elapsed * 1000 / n);
  }
  if (windows != nullptr) *windows = per_run;
  std::sort(per_run.begin(), per_run.end());
  return per_run[per_run.size() / 2];
}

// Like MedianMs for several plans at once: round r times one window of each
// plan in turn, so that load changes on a shared machine hit all of them.
std::vector<double> InterleavedMedianMs(const std::vector<const q8::engine::CompiledModel*>& models,
                                        const std::string& base, int64_t batch, int rounds, double window) {
  std::vector<std::vector<double>> per_run(models.size());
  std::vector<std::vector<Tensor>> inputs;
  for (const auto* model : models) {
    inputs.push_back(BenchInputs(*model, base, batch));
    const std::vector<q8::core::TensorView> in = Views(inputs.back());
    for (int i = 0; i < 3; ++i) (void)model->Run(in);
  }
  for (int r = 0; r < rounds; ++r) {
    for (size_t m = 0; m < models.size(); ++m) {
      const std::vector<q8::core::TensorView> in = Views(inputs[m]);
      int n = 0;
      const auto start = std::chrono::steady_clock::now();
      double elapsed = 0;
      while (elapsed < window || n < 2) {
        if (!models[m]->Run(in).ok()) return {};
        ++n;
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      per_run[m].push_back(elapsed * 1000 / n);
    }
  }
  std::vector<double> medians;
  for (auto& v : per_run) {
    std::sort(v.begin(), v.end());
    medians.push_back(v[v.size() / 2]);
  }
  return medians;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::vector<int64_t> batches;
  for (auto b : absl::StrSplit(absl::GetFlag(FLAGS_batches), ',')) {
    int64_t v = 0;
    if (absl::SimpleAtoi(b, &v) && v > 0) batches.push_back(v);
  }
  const int64_t max_batch = *std::max_element(batches.begin(), batches.end());
  std::printf("# q8serve engine_bench: isa %s, oneDNN %s, OMP_NUM_THREADS=%s\n", q8::kernels::CpuIsa().c_str(),
              q8::kernels::DnnlVersion().c_str(), getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(all)");
  const bool want_dynamic = absl::StrContains(absl::GetFlag(FLAGS_precisions), "dynamic");
  const std::string live_dir = absl::GetFlag(FLAGS_live_artifact_dir);
  if (want_dynamic && !live_dir.empty()) {
    std::printf(
        "| model | batch | fp32 ms | dynamic ms | static int8 ms, uploaded calibration | static int8 ms, "
        "live-calibrated "
        "| dynamic speedup | static speedup, uploaded | static speedup, live |\n"
        "|---|---|---|---|---|---|---|---|---|\n");
  } else if (want_dynamic) {
    std::printf(
        "| model | batch | fp32 ms | dynamic ms | static int8 ms | dynamic speedup | static speedup | dynamic layers "
        "|\n"
        "|---|---|---|---|---|---|---|---|\n");
  } else {
    std::printf(
        "| model | batch | fp32 ms | int8 ms | int8 speedup | int8/fp32 weight bytes |\n|---|---|---|---|---|---|\n");
  }
  for (auto entry : absl::StrSplit(absl::GetFlag(FLAGS_models), ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(entry, ':');
    if (parts.size() != 2) {
      std::fprintf(stderr, "bad --models entry '%s'\n", std::string(entry).c_str());
      return 2;
    }
    const std::string base = parts[0] + "/" + parts[1];
    const std::string onnx = ReadFile(base + ".onnx");
    q8::engine::CompileOptions compile{.max_batch_size = std::max<int64_t>(max_batch, 32),
                                       .warmup_batch_sizes = batches};
    auto fp32 = q8::engine::Compile(onnx, compile);
    if (!fp32.ok()) {
      std::fprintf(stderr, "%s: %s\n", parts[1].c_str(), std::string(fp32.status().message()).c_str());
      return 1;
    }
    std::fprintf(stderr, "%s: passes %s\n", parts[1].c_str(),
                 absl::StrJoin((*fp32)->report().passes_applied, ", ").c_str());
    const std::string cache = absl::GetFlag(FLAGS_artifact_dir);
    const std::string artifact_path = cache + "/" + parts[1] + ".q8artifact";
    const std::string report_path = cache + "/" + parts[1] + ".report.json";
    absl::StatusOr<q8::engine::QuantizationResult> q = absl::NotFoundError("no cached artifact");
    if (!cache.empty() && std::filesystem::exists(artifact_path) && std::filesystem::exists(report_path)) {
      q = q8::engine::LoadQuantized(onnx, ReadFile(artifact_path), ReadFile(report_path), compile);
    }
    if (!q.ok()) {
      q8::engine::CalibrationData data;
      auto calib = q8::core::ReadNpyFile(base + "_calibration.npy");
      if (std::filesystem::exists(base + "_calibration.npz")) {
        auto arrays = q8::core::ParseNpz(ReadFile(base + "_calibration.npz"));
        auto from_npz = arrays.ok() ? q8::engine::CalibrationFromNpz(std::move(*arrays))
                                    : absl::StatusOr<q8::engine::CalibrationData>(arrays.status());
        if (!from_npz.ok()) {
          std::fprintf(stderr, "%s: %s\n", parts[1].c_str(), std::string(from_npz.status().message()).c_str());
          return 1;
        }
        data = std::move(*from_npz);
      } else {
        data.inputs = calib.ok() ? std::move(*calib) : Normal(q8::core::WithBatch((*fp32)->inputs()[0].dims, 32), 11);
      }
      q8::engine::QuantizationOptions options;
      options.eval_fraction = 0;
      options.max_drop = 1.0;  // speed only: no fallback
      q = q8::engine::Quantize(onnx, compile, options, &data);
      if (q.ok() && !cache.empty()) {
        std::filesystem::create_directories(cache);
        WriteFile(artifact_path, q->artifact);
        WriteFile(report_path, q->report.ToJson());
        auto qdq = q8::engine::ExportQdqOnnx(onnx, q->artifact);
        if (!qdq.ok()) {
          std::fprintf(stderr, "%s: QDQ export: %s\n", parts[1].c_str(), std::string(qdq.status().message()).c_str());
          return 1;
        }
        WriteFile(cache + "/" + parts[1] + "_int8_qdq.onnx", *qdq);
      }
    }
    const std::string precisions = absl::GetFlag(FLAGS_precisions);
    // Static int8 needs single-input calibration: a text model runs fp32 vs dynamic only.
    const bool static_only_missing =
        !q.ok() && q.status().code() == absl::StatusCode::kFailedPrecondition && want_dynamic && live_dir.empty();
    if (!q.ok() && !static_only_missing) {
      std::fprintf(stderr, "%s: %s\n", parts[1].c_str(), std::string(q.status().message()).c_str());
      return 1;
    }
    const bool want_fp32 = absl::StrContains(precisions, "fp32");
    const bool want_int8 = absl::StrContains(precisions, "int8") && q.ok();
    absl::StatusOr<q8::engine::QuantizationResult> dyn = absl::NotFoundError("dynamic not asked for");
    if (want_dynamic) {
      q8::engine::QuantizationOptions options;
      options.mode = q8::engine::QuantMode::kDynamic;
      dyn = q8::engine::Quantize(onnx, compile, options, nullptr);
      if (!dyn.ok()) {
        std::fprintf(stderr, "%s: dynamic: %s\n", parts[1].c_str(), std::string(dyn.status().message()).c_str());
        return 1;
      }
    }
    if (const int runs = absl::GetFlag(FLAGS_profile_runs); runs > 0) {
      for (int64_t batch : batches) {
        if (want_fp32) ProfileRuns(**fp32, base, parts[1], "fp32", batch, runs);
        if (want_int8) ProfileRuns(*q->model, base, parts[1], "int8", batch, runs);
        if (want_dynamic) ProfileRuns(*dyn->model, base, parts[1], "dynamic", batch, runs);
      }
      continue;
    }
    if (want_dynamic && !live_dir.empty()) {
      const std::string live_base = live_dir + "/" + parts[1];
      auto live = q8::engine::LoadQuantized(onnx, ReadFile(live_base + ".q8artifact"),
                                            ReadFile(live_base + ".report.json"), compile);
      if (!live.ok()) {
        std::fprintf(stderr, "%s: live artifact: %s\n", parts[1].c_str(), std::string(live.status().message()).c_str());
        return 1;
      }
      for (int64_t batch : batches) {
        const std::vector<double> ms =
            InterleavedMedianMs({fp32->get(), dyn->model.get(), q->model.get(), live->model.get()}, base, batch,
                                absl::GetFlag(FLAGS_rounds), absl::GetFlag(FLAGS_window_seconds));
        if (ms.size() != 4) return 1;
        std::printf("| %s | %lld | %.3f | %.3f | %.3f | %.3f | %.2fx | %.2fx | %.2fx |\n", parts[1].c_str(),
                    static_cast<long long>(batch), ms[0], ms[1], ms[2], ms[3], ms[0] / ms[1], ms[0] / ms[2],
                    ms[0] / ms[3]);
        std::fflush(stdout);
      }
      continue;
    }
    if (want_dynamic) {
      int dynamic_layers = 0;
      for (const auto& l : dyn->report.layers) dynamic_layers += l.precision == "int8-dynamic";
      std::vector<const q8::engine::CompiledModel*> plans{fp32->get(), dyn->model.get()};
      if (q.ok()) plans.push_back(q->model.get());
      for (int64_t batch : batches) {
        const std::vector<double> ms =
            InterleavedMedianMs(plans, base, batch, absl::GetFlag(FLAGS_rounds), absl::GetFlag(FLAGS_window_seconds));
        if (ms.size() != plans.size()) return 1;
        const std::string static_ms = q.ok() ? absl::StrFormat("%.3f", ms[2]) : "n/a (several inputs)";
        const std::string static_x = q.ok() ? absl::StrFormat("%.2fx", ms[0] / ms[2]) : "n/a";
        std::printf("| %s | %lld | %.3f | %.3f | %s | %.2fx | %s | %d of %zu |\n", parts[1].c_str(),
                    static_cast<long long>(batch), ms[0], ms[1], static_ms.c_str(), ms[0] / ms[1], static_x.c_str(),
                    dynamic_layers, dyn->report.layers.size());
        std::fflush(stdout);
      }
      continue;
    }
    const double weights = double(q->model->memory().weights) / double((*fp32)->memory().weights);
    for (int64_t batch : batches) {
      std::vector<double> fw, iw;
      const int rounds = absl::GetFlag(FLAGS_rounds);
      const double window = absl::GetFlag(FLAGS_window_seconds);
      const double f = want_fp32 ? MedianMs(**fp32, base, batch, rounds, window, &fw) : 0;
      const double i = want_int8 ? MedianMs(*q->model, base, batch, rounds, window, &iw) : 0;
      std::printf("| %s | %lld | %.3f | %.3f | %.2fx | %.3f |\n", parts[1].c_str(), static_cast<long long>(batch), f, i,
                  i > 0 ? f / i : 0.0, weights);
      std::fflush(stdout);
      if (const std::string json = absl::GetFlag(FLAGS_json); !json.empty()) {
        std::ofstream(json, std::ios::app)
            << "{\"model\":\"" << parts[1] << "\",\"batch\":" << batch << ",\"fp32_ms\":" << JsonList(fw)
            << ",\"int8_ms\":" << JsonList(iw) << ",\"isa\":\"" << q8::kernels::CpuIsa() << "\"}\n";
      }
    }
  }
  return 0;
}
