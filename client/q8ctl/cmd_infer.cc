// infer: .npy inputs -> ModelInfer -> first output saved as .npy + top-k classes.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "client/q8ctl/commands.h"
#include "client/q8ctl/requests.h"
#include "client/q8ctl/topk.h"
#include "core/npy.h"
#include "core/shape.h"

namespace q8::client {
namespace {

// Fills in the tensor name of a single unnamed --input from ModelMetadata.
absl::StatusOr<std::string> SoleInputName(const InferOptions& options, Client& client) {
  absl::StatusOr<inference::ModelMetadataResponse> metadata = client.ModelMetadata(options.name, options.version);
  if (!metadata.ok()) return metadata.status();
  if (metadata->inputs_size() != 1) {
    std::vector<std::string> names;
    for (const auto& input : metadata->inputs()) names.push_back(input.name());
    return absl::InvalidArgumentError(absl::StrCat("model '", options.name, "' has ", metadata->inputs_size(),
                                                   " inputs (", absl::StrJoin(names, ", "),
                                                   "); pass --input TENSOR=X.npy for each"));
  }
  return metadata->inputs(0).name();
}

}  // namespace

absl::Status RunInfer(const InferOptions& options, Client& client, std::ostream& out) {
  std::vector<core::Tensor> tensors;
  std::vector<NamedInput> inputs;
  for (const InferInput& input : options.inputs) {
    absl::StatusOr<core::Tensor> tensor = core::ReadNpyFile(input.path);
    if (!tensor.ok()) {
      return absl::Status(tensor.status().code(), absl::StrCat(input.path, ": ", tensor.status().message()));
    }
    tensors.push_back(*std::move(tensor));
    inputs.push_back({input.tensor, tensors.back().view()});
  }
  if (inputs.size() == 1 && inputs[0].name.empty()) {
    absl::StatusOr<std::string> name = SoleInputName(options, client);
    if (!name.ok()) return name.status();
    inputs[0].name = *name;
  }
  absl::StatusOr<inference::ModelInferRequest> request = BuildInferRequest(
      options.name, options.version, inputs, options.typed ? ContentMode::kTyped : ContentMode::kRaw);
  if (!request.ok()) return request.status();

  const absl::Time start = absl::Now();
  absl::StatusOr<inference::ModelInferResponse> response = client.ModelInfer(*request);
  const absl::Duration took = absl::Now() - start;
  if (!response.ok()) return response.status();
  if (response->outputs().empty()) return absl::InternalError("the server returned no outputs");

  out << absl::StrFormat("%s version %s: %d output(s) in %.2f ms\n", response->model_name(),
                         response->model_version().empty() ? "-" : response->model_version(),
                         response->outputs_size(), absl::ToDoubleMilliseconds(took));
  for (const auto& output : response->outputs()) {
    out << "  " << output.name() << " " << output.datatype() << " "
        << core::DimsToString(core::Dims(output.shape().begin(), output.shape().end())) << "\n";
  }
  absl::StatusOr<core::Tensor> first = DecodeOutput(*response, 0);
  if (!first.ok()) return first.status();
  if (options.output_path.has_value()) {
    absl::Status status = core::WriteNpyFile(*options.output_path, first->view());
    if (!status.ok()) return status;
    out << "wrote " << response->outputs(0).name() << " to " << *options.output_path << "\n";
  }
  if (options.top_k > 0 && IsClassScores(first->view())) {
    absl::StatusOr<std::string> text = FormatTopK(first->view(), options.top_k);
    if (!text.ok()) return text.status();
    out << *text;
  }
  return absl::OkStatus();
}

}  // namespace q8::client
