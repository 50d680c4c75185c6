// engine_bench: in-process latency of q8serve's fp32 and int8 plans, side by
// side in one run, for each model and batch size. Reports medians over
// repeated timed windows and the int8/fp32 speedup. Not a test: numbers
// depend on the host; ratios from one run are what to compare.
//
// Usage: engine_bench --models DIR:NAME[,...] [--batches 1,16] [--rounds 5]
//   NAME.onnx is read from DIR; calibration uses 32 seeded N(0,1) samples
//   (or DIR/NAME_calibration.npy when present). Thread count: OMP_NUM_THREADS.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/npy.h"
#include "engine/quantize.h"
#include "kernels/program.h"

ABSL_FLAG(std::string, models, "", "comma-separated DIR:NAME entries (reads DIR/NAME.onnx)");
ABSL_FLAG(std::string, batches, "1,16", "batch sizes");
ABSL_FLAG(int, rounds, 5, "timed windows per measurement (the median is reported)");
ABSL_FLAG(double, window_seconds, 0.5, "length of one timed window");

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

// Median over `rounds` windows of the mean time per run inside each window, in ms.
double MedianMs(const q8::engine::CompiledModel& model, int64_t batch, int rounds, double window) {
  const auto& info = model.inputs()[0];
  Tensor x = Normal(q8::core::WithBatch(info.dims, batch), 7);
  std::vector<q8::core::TensorView> in = {x.view()};
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
  std::sort(per_run.begin(), per_run.end());
  return per_run[per_run.size() / 2];
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
  std::printf("| model | batch | fp32 ms | int8 ms | int8 speedup | int8/fp32 weight bytes |\n|---|---|---|---|---|---|\n");
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
    q8::engine::CalibrationData data;
    auto calib = q8::core::ReadNpyFile(base + "_calibration.npy");
    data.inputs = calib.ok() ? std::move(*calib) : Normal(q8::core::WithBatch((*fp32)->inputs()[0].dims, 32), 11);
    q8::engine::QuantizationOptions options;
    options.eval_fraction = 0;
    options.max_drop = 1.0;  // speed only: no fallback
    auto q = q8::engine::Quantize(onnx, compile, options, &data);
    if (!q.ok()) {
      std::fprintf(stderr, "%s: %s\n", parts[1].c_str(), std::string(q.status().message()).c_str());
      return 1;
    }
    const double weights = double(q->model->memory().weights) / double((*fp32)->memory().weights);
    for (int64_t batch : batches) {
      const double f = MedianMs(**fp32, batch, absl::GetFlag(FLAGS_rounds), absl::GetFlag(FLAGS_window_seconds));
      const double i = MedianMs(*q->model, batch, absl::GetFlag(FLAGS_rounds), absl::GetFlag(FLAGS_window_seconds));
      std::printf("| %s | %lld | %.3f | %.3f | %.2fx | %.3f |\n", parts[1].c_str(), static_cast<long long>(batch), f, i,
                  f / i, weights);
      std::fflush(stdout);
    }
  }
  return 0;
}
