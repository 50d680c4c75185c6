// upload, report, export, unload: model lifecycle. Upload, report and export
// use q8serve.v1.ModelService; unload the OIP repository extension.
#include <algorithm>
#include <fstream>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/q8ctl/commands.h"
#include "client/q8ctl/file_util.h"
#include "client/q8ctl/report_format.h"

namespace q8::client {
namespace {

// Prints the server's upload events on stderr: bytes received in ~10% steps,
// then each quantization stage when it starts, at every quarter, and when it
// ends (fallback steps all, they name the layer).
class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::ostream& err) : err_(err) {}

  void operator()(const q8serve::v1::UploadEvent& event) {
    if (event.has_received()) {
      const auto& r = event.received();
      const int64_t total = std::max<int64_t>(r.total_bytes(), 1);
      const int step = static_cast<int>(10 * r.bytes() / total);
      if (step > last_step_ || r.bytes() == r.total_bytes()) {
        if (step == last_step_ && printed_all_) return;
        last_step_ = step;
        printed_all_ = r.bytes() == r.total_bytes();
        err_ << absl::StrFormat("upload: %.2f / %.2f MiB received (%d%%)\n", r.bytes() / 1048576.0,
                                r.total_bytes() / 1048576.0, static_cast<int>(100 * r.bytes() / total));
      }
    } else if (event.has_progress()) {
      const auto& p = event.progress();
      const int64_t total = std::max<int64_t>(p.total(), 1);
      const int quarter = static_cast<int>(4 * p.done() / total);
      const bool new_stage = p.stage() != stage_;
      if (new_stage || quarter > quarter_ || p.done() == p.total() || p.stage() == "fallback") {
        err_ << p.stage() << ": " << p.done() << "/" << p.total() << (p.detail().empty() ? "" : "  ") << p.detail()
             << "\n";
      }
      stage_ = p.stage();
      quarter_ = quarter;
    }
    err_.flush();
  }

 private:
  std::ostream& err_;
  int last_step_ = -1;
  bool printed_all_ = false;
  std::string stage_;
  int quarter_ = 0;
};

// Uploads without calibration data under mode auto: say what the server
// will do (the summary is "fp32 now, calibrating (0/512 samples)").
std::string WhatHappensNext(const std::string& name, const std::string& summary) {
  const size_t at = summary.find("calibrating (");
  if (at == std::string::npos) return "";
  const size_t slash = summary.find('/', at), space = summary.find(' ', slash == std::string::npos ? at : slash);
  const std::string target =
      slash != std::string::npos && space != std::string::npos ? summary.substr(slash + 1, space - slash - 1) : "?";
  return absl::StrCat("no calibration data: serving ", summary.substr(0, summary.find(" now")),
                      " now. The server keeps the inputs of the next ", target,
                      " requests in memory, calibrates on them in the background and then serves static int8 "
                      "(persisted; no recalibration after a restart). Follow it with: q8ctl report ",
                      name, "\n");
}

}  // namespace

absl::Status RunUpload(const UploadOptions& options, Client& client, std::ostream& out, std::ostream& err) {
  UploadSpec spec;
  spec.model_name = options.name;
  spec.version = options.version;
  absl::StatusOr<std::string> model = ReadFile(options.model_path);
  if (!model.ok()) return model.status();
  if (model->empty()) return absl::InvalidArgumentError(absl::StrCat(options.model_path, " is empty"));
  spec.files.emplace_back("model.onnx", *std::move(model));
  // A .npz (numpy.savez: one array per model input, several shape groups)
  // goes up as calibration/inputs.npz; anything else as inputs.npy.
  const bool npz = options.calibration_path && absl::EndsWith(*options.calibration_path, ".npz");
  for (const auto& [path, file] :
       {std::pair{options.calibration_path, npz ? "calibration/inputs.npz" : "calibration/inputs.npy"},
        std::pair{options.labels_path, "calibration/labels.npy"}}) {
    if (!path) continue;
    absl::StatusOr<std::string> bytes = ReadFile(*path);
    if (!bytes.ok()) return bytes.status();
    spec.files.emplace_back(file, *std::move(bytes));
  }
  std::optional<std::string> config_file;
  if (options.config_path.has_value()) {
    absl::StatusOr<std::string> text = ReadFile(*options.config_path);
    if (!text.ok()) return text.status();
    config_file = *std::move(text);
  }
  absl::StatusOr<std::string> config = UploadConfigJson(options, config_file);
  if (!config.ok()) return config.status();
  spec.config_json = *std::move(config);

  ProgressPrinter printer(err);
  const absl::Time start = absl::Now();
  absl::StatusOr<q8serve::v1::UploadResult> result =
      client.Upload(spec, [&printer](const q8serve::v1::UploadEvent& event) { printer(event); });
  const absl::Duration took = absl::Now() - start;
  if (!result.ok()) {
    if (result.status().code() == absl::StatusCode::kFailedPrecondition && !options.calibration_path) {
      return absl::FailedPreconditionError(absl::StrCat(
          result.status().message(),
          " [q8ctl: pass --calibration INPUTS.npy (and --labels LABELS.npy), or --quantization dynamic|none]"));
    }
    return result.status();
  }
  out << absl::StrFormat("uploaded %s version %d in %.2f s: %s (%s)\n", result->model_name(), result->version(),
                         absl::ToDoubleSeconds(took), result->summary(), result->platform());
  if (!result->report_json().empty()) {
    absl::StatusOr<std::string> text = FormatReport(result->report_json());
    if (!text.ok()) return text.status();
    out << *text;
  }
  if (!options.calibration_path) out << WhatHappensNext(options.name, result->summary());
  return absl::OkStatus();
}

absl::Status RunReport(const ReportOptions& options, Client& client, std::ostream& out) {
  absl::StatusOr<q8serve::v1::GetReportResponse> report = client.GetReport(options.name, options.version);
  if (!report.ok()) return report.status();
  if (options.json) {
    out << report->report_json() << "\n";
    return absl::OkStatus();
  }
  out << "model " << report->model_name() << " version " << report->version() << "\n";
  if (!report->serving_state().empty()) out << "serving: " << report->serving_state() << "\n";
  if (report->report_json().empty()) return absl::OkStatus();
  absl::StatusOr<std::string> text = FormatReport(report->report_json());
  if (!text.ok()) return text.status();
  out << *text;
  return absl::OkStatus();
}

absl::Status RunExport(const ExportOptions& options, Client& client, std::ostream& out) {
  int64_t version = 0;
  absl::StatusOr<std::string> bytes = client.Export(options.name, options.version, &version);
  if (!bytes.ok()) return bytes.status();
  std::ofstream file(options.output_path, std::ios::binary | std::ios::trunc);
  if (!file) return absl::PermissionDeniedError(absl::StrCat("cannot write ", options.output_path));
  file.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  file.close();
  if (!file) return absl::DataLossError(absl::StrCat("cannot write ", options.output_path));
  out << absl::StrFormat("exported %s version %d as QDQ ONNX to %s (%d bytes)\n", options.name, version,
                         options.output_path, bytes->size());
  return absl::OkStatus();
}

absl::Status RunUnload(const ModelOptions& options, Client& client, std::ostream& out) {
  absl::Status status = client.RepositoryModelUnload(options.name);
  if (!status.ok()) return status;
  out << "unloaded " << options.name << "\n";
  return absl::OkStatus();
}

}  // namespace q8::client
