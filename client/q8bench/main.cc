// q8bench: load generator for q8serve's ModelInfer (like Triton's
// perf_analyzer). Flags -> BenchOptions; then metadata, one probe request,
// the sweep, and the table / CSV / JSON.
//
// Exit status: 0 ok, 1 the server refused or failed (unknown model, bad
// input, every request failing), 2 bad arguments.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "client/q8bench/bench_options.h"
#include "client/q8bench/inputs.h"
#include "client/q8bench/load_generator.h"
#include "client/q8bench/runner.h"
#include "client/q8bench/writers.h"
#include "client/q8ctl/client.h"

ABSL_FLAG(std::string, server, "localhost:8001", "q8serve gRPC address (host:port)");
ABSL_FLAG(std::string, model, "", "model name (or give it as the only positional argument)");
ABSL_FLAG(std::string, model_version, "", "model version (default: the server's choice)");
ABSL_FLAG(int64_t, batch_size, 1, "batch dimension of every request");
ABSL_FLAG(std::string, concurrency, "1",
          "closed loop: requests in flight, START[:END[:xF|+S]] e.g. 1:16:x2 (default factor x2)");
ABSL_FLAG(std::string, request_rate, "",
          "open loop instead: requests/s, START[:END[:xF|+S]]; see --request_distribution");
ABSL_FLAG(std::string, request_distribution, "constant", "open loop arrivals: constant | poisson");
ABSL_FLAG(int64_t, max_outstanding, 1024, "open loop: most requests in flight");
ABSL_FLAG(int64_t, warmup_ms, 1000, "warm-up per level before measuring");
ABSL_FLAG(int64_t, window_ms, 1000, "length of one measurement window");
ABSL_FLAG(double, stability_percent, 10,
          "stop when throughput and p99 of the last 3 windows are within +-this % of their mean");
ABSL_FLAG(int, max_windows, 10, "most windows per level (results then come from the last 3, marked not stable)");
ABSL_FLAG(int64_t, timeout_ms, 30000, "deadline of every request");
ABSL_FLAG(std::vector<std::string>, input_data, {},
          "inputs from .npy instead of random data: PATH.npy or TENSOR=PATH.npy[,...]; rows repeat to fill a batch");
ABSL_FLAG(std::vector<std::string>, shape, {}, "shapes of dynamic non-batch dims: TENSOR:D1,D2[,...] (repeatable)");
ABSL_FLAG(std::string, request_mix, "",
          "send a mix of requests: an .npz with keys GROUP/TENSOR, one request per group (e.g. per sequence "
          "length), in turn; replaces --input_data, --shape and --batch_size");
ABSL_FLAG(int64_t, seed, 1, "random input data and Poisson arrivals");
ABSL_FLAG(std::string, csv, "", "write one CSV row per level to this file (- = stdout)");
ABSL_FLAG(std::string, json, "", "write the run as JSON to this file (- = stdout)");
ABSL_FLAG(bool, progress, true, "live progress line on stderr");
ABSL_FLAG(std::string, token_file, "", "send the (first) token of this file as 'authorization: Bearer <token>'");
ABSL_FLAG(std::string, tls_ca_file, "", "use TLS, trusting the CA certificate(s) in this file");
ABSL_FLAG(std::string, tls_cert_file, "", "client certificate for mutual TLS (needs --tls_key_file)");
ABSL_FLAG(std::string, tls_key_file, "", "private key of --tls_cert_file");

namespace {

using q8::bench::BenchOptions;

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "q8bench: error: %s\n", message.c_str());
  return code;
}

absl::StatusOr<BenchOptions> OptionsFromFlags(const std::vector<char*>& positionals) {
  BenchOptions o;
  o.server = absl::GetFlag(FLAGS_server);
  o.model = absl::GetFlag(FLAGS_model);
  if (positionals.size() > 2) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", positionals[2], "'"));
  }
  if (positionals.size() == 2) {
    if (!o.model.empty()) return absl::InvalidArgumentError("give the model either as --model or positionally");
    o.model = positionals[1];
  }
  o.version = absl::GetFlag(FLAGS_model_version);
  o.batch_size = absl::GetFlag(FLAGS_batch_size);
  const std::string rate = absl::GetFlag(FLAGS_request_rate);
  o.mode = rate.empty() ? q8::bench::LoadMode::kConcurrency : q8::bench::LoadMode::kRequestRate;
  auto levels =
      rate.empty() ? q8::bench::ParseRange(absl::GetFlag(FLAGS_concurrency), true) : q8::bench::ParseRange(rate, false);
  if (!levels.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(rate.empty() ? "--concurrency: " : "--request_rate: ", levels.status().message()));
  }
  o.levels = *levels;
  const std::string dist = absl::GetFlag(FLAGS_request_distribution);
  if (dist == "constant") {
    o.arrival = q8::bench::Arrival::kConstant;
  } else if (dist == "poisson") {
    o.arrival = q8::bench::Arrival::kPoisson;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--request_distribution: '", dist, "' is not constant or poisson"));
  }
  o.max_outstanding = absl::GetFlag(FLAGS_max_outstanding);
  o.warmup = absl::Milliseconds(absl::GetFlag(FLAGS_warmup_ms));
  o.window = absl::Milliseconds(absl::GetFlag(FLAGS_window_ms));
  o.stability_percent = absl::GetFlag(FLAGS_stability_percent);
  o.max_windows = absl::GetFlag(FLAGS_max_windows);
  o.timeout = absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
  o.input_data = absl::GetFlag(FLAGS_input_data);
  o.shapes = absl::GetFlag(FLAGS_shape);
  o.request_mix = absl::GetFlag(FLAGS_request_mix);
  o.seed = static_cast<uint32_t>(absl::GetFlag(FLAGS_seed));
  o.csv_path = absl::GetFlag(FLAGS_csv);
  o.json_path = absl::GetFlag(FLAGS_json);
  o.progress = absl::GetFlag(FLAGS_progress);
  if (absl::Status s = q8::bench::Validate(o); !s.ok()) return s;
  return o;
}

bool Write(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text << std::flush;
    return true;
  }
  std::ofstream out(path, std::ios::binary);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "load generator for q8serve.\n"
      "  q8bench --model NAME [--concurrency 1:16:x2 | --request_rate 100:400:+100] [--batch_size N]\n"
      "          [--window_ms 1000] [--stability_percent 10] [--csv FILE] [--json FILE]");
  std::vector<char*> positionals = absl::ParseCommandLine(argc, argv);
  auto options = OptionsFromFlags(positionals);
  if (!options.ok()) return Fail(2, std::string(options.status().message()) + " (see --help)");

  auto security =
      q8::client::LoadChannelSecurity({absl::GetFlag(FLAGS_token_file), absl::GetFlag(FLAGS_tls_ca_file),
                                       absl::GetFlag(FLAGS_tls_cert_file), absl::GetFlag(FLAGS_tls_key_file)});
  if (!security.ok()) return Fail(2, std::string(security.status().message()));
  auto client =
      q8::client::Client::Connect({.server = options->server, .timeout = options->timeout, .security = *security});
  auto metadata = client->ModelMetadata(options->model, options->version);
  if (!metadata.ok()) return Fail(1, metadata.status().ToString());
  auto requests = q8::bench::BuildRequests(*metadata, *options);
  if (!requests.ok()) return Fail(1, requests.status().ToString());
  // One request first: a model that refuses the input fails here with the
  // server's message instead of as a flood of errors.
  auto probe = client->ModelInfer(requests->front());
  if (!probe.ok()) return Fail(1, absl::StrCat("the first request failed: ", probe.status().ToString()));
  std::string version = options->version.empty() ? probe->model_version() : options->version;

  std::vector<std::string> serialized;
  for (const auto& r : *requests) serialized.push_back(r.SerializeAsString());
  q8::bench::LoadGenerator generator(q8::client::CreateChannel(options->server, *security), std::move(serialized),
                                     options->timeout);
  q8::bench::Runner runner(*options, *client, generator, version);
  auto run = runner.Run();
  if (!run.ok()) return Fail(1, run.status().ToString());

  if (options->csv_path != "-" && options->json_path != "-") std::cout << q8::bench::FormatTable(*run) << std::flush;
  if (!options->csv_path.empty() && !Write(options->csv_path, q8::bench::FormatCsv(*run))) {
    return Fail(1, "cannot write " + options->csv_path);
  }
  if (!options->json_path.empty() && !Write(options->json_path, q8::bench::FormatJson(*run))) {
    return Fail(1, "cannot write " + options->json_path);
  }
  return run->client_errors > 0 ? 1 : 0;
}
