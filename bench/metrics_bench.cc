// metrics_bench: what q8serve's Prometheus metrics cost in throughput, side
// by side in one run. One model is loaded once (the real loader: static int8
// quantization with calibration data) and published into three registries
// that differ only in metrics:
//   off     --metrics_port=-1: no metrics objects, nothing recorded
//   on      metrics on, --shadow_fraction=0 (counters, histograms, gauges)
//   shadow  metrics on, --shadow_fraction=0.01 (the default: 1 % of requests
//           also run in fp32 on the low-priority shadow worker)
// Each is driven through InferenceService::ModelInfer (the code a gRPC call
// runs, without the network) by --threads closed-loop clients for
// --window_seconds; the modes alternate in rotating order for --rounds
// rounds. Reports, per mode, the median throughput (requests per wall
// second) and efficiency (requests per CPU second of the whole process,
// shadow worker included: insensitive to other processes taking cores on a
// shared machine), and the medians of the per-round ratios to "off" (modes
// measured back to back, so slow drift cancels).
//
// Usage: metrics_bench --model tests/data/fashion_cnn.onnx
//          --calibration deploy/demo/calibration_inputs.npy [--threads 2]
//          [--rounds 7] [--window_seconds 2] [--batch 1]
// Not a test: absolute numbers depend on the host; compare the ratios.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "core/logging.h"
#include "server/inference_service.h"
#include "server/metrics/metrics_registry.h"
#include "server/model_loader.h"
#include "server/model_registry.h"
#include "server/model_repository.h"
#include "server/security/rpc_guard.h"
#include "server/serving_state.h"

ABSL_FLAG(std::string, model, "tests/data/fashion_cnn.onnx", "float ONNX model");
ABSL_FLAG(std::string, calibration, "deploy/demo/calibration_inputs.npy", "calibration inputs (.npy)");
ABSL_FLAG(int, threads, 2, "concurrent closed-loop clients");
ABSL_FLAG(int, rounds, 7, "rounds; each measures every mode once");
ABSL_FLAG(double, window_seconds, 2, "length of one measurement");
ABSL_FLAG(int, batch, 1, "batch size of every request");

namespace {

namespace fs = std::filesystem;
using namespace q8::server;  // NOLINT: a benchmark's main file

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(1);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// A request of `batch` copies of a constant input for the model's inputs.
inference::ModelInferRequest MakeRequest(const q8::engine::CompiledModel& model, const std::string& name,
                                         int64_t batch) {
  inference::ModelInferRequest req;
  req.set_model_name(name);
  for (const auto& info : model.inputs()) {
    auto* in = req.add_inputs();
    in->set_name(info.name);
    in->set_datatype(std::string(q8::core::OipName(info.dtype)));
    int64_t elements = 1;
    for (size_t i = 0; i < info.dims.size(); ++i) {
      const int64_t d = i == 0 ? batch : info.dims[i];
      in->add_shape(d);
      elements *= d;
    }
    std::vector<float> values(static_cast<size_t>(elements), 0.5f);
    req.add_raw_input_contents(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  }
  return req;
}

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Result {
  double rps = 0;        // requests per wall second
  double per_cpu_s = 0;  // requests per CPU second of the process
};

// `threads` clients calling ModelInfer for `seconds`. `drain` (may be null)
// is waited for before the CPU clock stops: work the window queued (shadow
// evaluation) is charged to it.
Result Throughput(InferenceService& service, const inference::ModelInferRequest& request, int threads, double seconds,
                  metrics::ShadowEvaluator* drain) {
  const double cpu_start = ProcessCpuSeconds();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> failed{0};
  std::vector<std::thread> clients;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back([&] {
      inference::ModelInferResponse response;
      int64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (!service.InferBlocking(request, &response).ok()) failed.fetch_add(1);
        ++n;
      }
      done.fetch_add(n);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& c : clients) c.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (drain != nullptr) drain->WaitIdle();
  const double cpu = ProcessCpuSeconds() - cpu_start;
  if (failed.load() > 0) {
    std::fprintf(stderr, "%lld requests failed\n", static_cast<long long>(failed.load()));
    std::exit(1);
  }
  const double n = static_cast<double>(done.load());
  return {n / elapsed, n / cpu};
}

std::unique_ptr<metrics::MetricsRegistry> Metrics(double shadow_fraction) {
  metrics::MetricsOptions options;
  options.port = 0;  // a real (idle) endpoint, as in production
  options.shadow_fraction = shadow_fraction;
  auto m = metrics::MetricsRegistry::Create(options);
  if (!m.ok()) {
    std::fprintf(stderr, "%s\n", m.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(m);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  q8::core::SetMinLogLevel(q8::core::LogLevel::kWarning);
  const std::string name = "bench";
  const fs::path dir = fs::temp_directory_path() / ("q8_metrics_bench_" + std::to_string(::getpid()));
  ModelRepository repository(dir.string());
  if (!repository.Init().ok()) return 1;

  // Load once, through the production loader (quantize with calibration data).
  ModelRegistry loaded;
  LoaderOptions loader_options;
  loader_options.engine = RealEngine();
  ModelLoader loader(loader_options, &repository, &loaded);
  const std::string onnx = ReadBytes(absl::GetFlag(FLAGS_model));
  const std::string calibration = ReadBytes(absl::GetFlag(FLAGS_calibration));
  LoadRequest load;
  load.name = name;
  load.config_json = R"({"max_batch_size":64,"quantization":{"mode":"static"}})";
  load.files[1].model = {onnx, "model.onnx"};
  load.files[1].calibration_inputs = UploadedFile{calibration, "calibration/inputs.npy"};
  std::map<int64_t, ServedModel> published;
  if (absl::Status s = loader.Load(load, nullptr, &published); !s.ok()) {
    std::fprintf(stderr, "load failed: %s\n", s.ToString().c_str());
    return 1;
  }
  fs::remove_all(dir);

  auto metrics_on = Metrics(0);
  auto metrics_shadow = Metrics(0.01);
  struct Mode {
    const char* name;
    std::unique_ptr<ModelRegistry> registry;
    std::unique_ptr<InferenceService> service;
    metrics::ShadowEvaluator* shadow = nullptr;
    std::vector<double> rps, per_cpu_s;
  };
  ServingState state;
  state.FinishStartup();
  std::vector<Mode> modes;
  modes.push_back({"off", std::make_unique<ModelRegistry>(nullptr), nullptr, nullptr, {}, {}});
  modes.push_back({"on", std::make_unique<ModelRegistry>(metrics_on.get()), nullptr, nullptr, {}, {}});
  modes.push_back(
      {"shadow", std::make_unique<ModelRegistry>(metrics_shadow.get()), nullptr, &metrics_shadow->shadow(), {}, {}});
  const security::RpcGuard open_access(nullptr, nullptr);  // no tokens: measures the serving path only
  for (Mode& m : modes) {
    m.registry->Publish(name, published);
    m.service = std::make_unique<InferenceService>(m.registry.get(), &loader, &state, int64_t{1} << 30,
                                                   ResourceLimits{}.max_request_bytes, &open_access);
  }

  const auto& model = *published.at(1).model;
  const inference::ModelInferRequest request = MakeRequest(model, name, absl::GetFlag(FLAGS_batch));
  const int threads = absl::GetFlag(FLAGS_threads);
  const double window = absl::GetFlag(FLAGS_window_seconds);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  std::printf(
      "# metrics_bench: %s (%s), batch %d, %d client threads, %d rounds x %.1f s per mode, OMP_NUM_THREADS=%s\n",
      absl::GetFlag(FLAGS_model).c_str(), PlatformOf(published.at(1)).c_str(), absl::GetFlag(FLAGS_batch), threads,
      rounds, window, getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(all)");
  for (Mode& m : modes) Throughput(*m.service, request, threads, 0.5, m.shadow);  // warm-up
  std::printf("round   off_rps    on_rps  shadow_rps | off_req/cpu_s  on_req/cpu_s  shadow_req/cpu_s\n");
  std::vector<double> on_rps, shadow_rps, on_cpu, shadow_cpu;  // ratios to off
  for (int r = 0; r < rounds; ++r) {
    // Rotate the order so no mode always runs first (or after a given one).
    for (size_t k = 0; k < modes.size(); ++k) {
      Mode& m = modes[(k + static_cast<size_t>(r)) % modes.size()];
      const Result res = Throughput(*m.service, request, threads, window, m.shadow);
      m.rps.push_back(res.rps);
      m.per_cpu_s.push_back(res.per_cpu_s);
    }
    on_rps.push_back(modes[1].rps.back() / modes[0].rps.back());
    shadow_rps.push_back(modes[2].rps.back() / modes[0].rps.back());
    on_cpu.push_back(modes[1].per_cpu_s.back() / modes[0].per_cpu_s.back());
    shadow_cpu.push_back(modes[2].per_cpu_s.back() / modes[0].per_cpu_s.back());
    std::printf("%5d %9.0f %9.0f %11.0f | %13.0f %13.0f %17.0f\n", r + 1, modes[0].rps.back(), modes[1].rps.back(),
                modes[2].rps.back(), modes[0].per_cpu_s.back(), modes[1].per_cpu_s.back(), modes[2].per_cpu_s.back());
  }
  std::printf("median %8.0f %9.0f %11.0f | %13.0f %13.0f %17.0f\n", Median(modes[0].rps), Median(modes[1].rps),
              Median(modes[2].rps), Median(modes[0].per_cpu_s), Median(modes[1].per_cpu_s), Median(modes[2].per_cpu_s));
  std::printf("cost vs off (1 - median of per-round ratios):\n");
  std::printf("  metrics on:            %5.2f %% throughput, %5.2f %% CPU efficiency\n", 100 * (1 - Median(on_rps)),
              100 * (1 - Median(on_cpu)));
  std::printf("  metrics + shadow 0.01: %5.2f %% throughput, %5.2f %% CPU efficiency\n", 100 * (1 - Median(shadow_rps)),
              100 * (1 - Median(shadow_cpu)));
  // How much shadow work was done vs dropped (queue full while the
  // low-priority worker waited for CPU).
  const std::string scrape = metrics_shadow->Scrape();
  for (const char* series :
       {"q8serve_shadow_comparisons_total{", "q8serve_shadow_dropped_total{", "q8serve_inference_requests_total{"}) {
    const size_t at = scrape.find(series);
    if (at != std::string::npos)
      std::printf("shadow mode: %s\n", scrape.substr(at, scrape.find('\n', at) - at).c_str());
  }
  return 0;
}
