// Input synthesis for q8bench (see inputs.h).
#include "client/q8bench/inputs.h"

#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/q8ctl/file_util.h"
#include "client/q8ctl/options.h"
#include "client/q8ctl/requests.h"
#include "core/dtype.h"
#include "core/npy.h"
#include "core/npz.h"
#include "core/shape.h"

namespace q8::bench {
namespace {

using core::DataType;

// "TENSOR:D1,D2" entries -> name -> dims (without the batch dim).
absl::StatusOr<std::map<std::string, core::Dims>> ParseShapes(const std::vector<std::string>& specs) {
  std::map<std::string, core::Dims> shapes;
  for (const std::string& spec : specs) {
    const size_t colon = spec.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--shape '", spec, "': expected TENSOR:D1,D2,..."));
    }
    core::Dims dims;
    for (absl::string_view d : absl::StrSplit(spec.substr(colon + 1), ',')) {
      int64_t v = 0;
      if (!absl::SimpleAtoi(d, &v) || v < 1) {
        return absl::InvalidArgumentError(absl::StrCat("--shape '", spec, "': '", d, "' is not a dimension >= 1"));
      }
      dims.push_back(v);
    }
    shapes[spec.substr(0, colon)] = dims;
  }
  return shapes;
}

// The shape to send for one metadata input.
absl::StatusOr<core::Dims> RequestShape(const inference::ModelMetadataResponse::TensorMetadata& input,
                                        const BenchOptions& options, const std::map<std::string, core::Dims>& shapes) {
  core::Dims model(input.shape().begin(), input.shape().end());
  const bool batched = !model.empty() && model[0] == -1;
  if (!batched && options.batch_size != 1) {
    return absl::InvalidArgumentError(absl::StrCat("input '", input.name(), "' has shape ", core::DimsToString(model),
                                                   " without a batch dimension; --batch_size must be 1"));
  }
  core::Dims rest(model.begin() + (batched ? 1 : 0), model.end());
  if (auto it = shapes.find(input.name()); it != shapes.end()) {
    if (it->second.size() != rest.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--shape for '", input.name(), "' has ", it->second.size(),
                                                     " dims; the model has ", rest.size(), " besides the batch"));
    }
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] != -1 && rest[i] != it->second[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat("--shape for '", input.name(), "' conflicts with the model's ", core::DimsToString(model)));
      }
    }
    rest = it->second;
  }
  for (int64_t d : rest) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", input.name(), "' has dynamic dims ",
                                                     core::DimsToString(model), "; give them with --shape ",
                                                     input.name(), ":D1,D2,..."));
    }
  }
  core::Dims dims;
  if (batched) dims.push_back(options.batch_size);
  dims.insert(dims.end(), rest.begin(), rest.end());
  return dims;
}

template <typename T, typename Dist>
void FillWith(core::Tensor& t, Dist dist, std::mt19937& rng) {
  T* p = static_cast<T*>(t.data());
  for (int64_t i = 0; i < t.num_elements(); ++i) p[i] = static_cast<T>(dist(rng));
}

// Uniform [0,1) floats; small non-negative integers (valid as ids/indices).
absl::Status FillRandom(core::Tensor& t, std::mt19937& rng) {
  std::uniform_real_distribution<double> real(0.0, 1.0);
  std::uniform_int_distribution<int> small(0, 99);
  std::uniform_int_distribution<int> bit(0, 1);
  switch (t.dtype()) {
    case DataType::kFloat32:
      FillWith<float>(t, real, rng);
      break;
    case DataType::kFloat64:
      FillWith<double>(t, real, rng);
      break;
    case DataType::kBool:
      FillWith<bool>(t, bit, rng);
      break;
    case DataType::kUInt8:
      FillWith<uint8_t>(t, small, rng);
      break;
    case DataType::kUInt16:
      FillWith<uint16_t>(t, small, rng);
      break;
    case DataType::kUInt32:
      FillWith<uint32_t>(t, small, rng);
      break;
    case DataType::kUInt64:
      FillWith<uint64_t>(t, small, rng);
      break;
    case DataType::kInt8:
      FillWith<int8_t>(t, small, rng);
      break;
    case DataType::kInt16:
      FillWith<int16_t>(t, small, rng);
      break;
    case DataType::kInt32:
      FillWith<int32_t>(t, small, rng);
      break;
    case DataType::kInt64:
      FillWith<int64_t>(t, small, rng);
      break;
    default:
      return absl::UnimplementedError(
          absl::StrCat("no random data for ", core::OipName(t.dtype()), "; pass --input_data"));
  }
  return absl::OkStatus();
}

// A [batch, ...] tensor from an .npy of [N, ...] rows (rows repeat when
// N < batch) or of one sample without the batch dim.
absl::StatusOr<core::Tensor> FromNpy(const std::string& path, DataType dtype, const core::Dims& dims, bool batched) {
  absl::StatusOr<core::Tensor> file = core::ReadNpyFile(path);
  if (!file.ok()) return absl::Status(file.status().code(), absl::StrCat(path, ": ", file.status().message()));
  if (file->dtype() != dtype) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": dtype ", core::OipName(file->dtype()), ", the model wants ", core::OipName(dtype)));
  }
  const core::Dims& fd = file->dims();
  const core::Dims sample(dims.begin() + (batched ? 1 : 0), dims.end());
  const bool one_sample = fd == sample;
  const bool rows = batched && fd.size() == dims.size() && fd[0] >= 1 && core::Dims(fd.begin() + 1, fd.end()) == sample;
  if (!one_sample && !rows && fd != dims) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": shape ", core::DimsToString(fd), " does not fit ", core::DimsToString(dims)));
  }
  core::Tensor out(dtype, dims);
  const int64_t n_rows = one_sample || !batched ? 1 : fd[0];
  const size_t row_bytes = static_cast<size_t>(file->byte_size()) / static_cast<size_t>(n_rows);
  const int64_t batch = batched ? dims[0] : 1;
  char* dst = static_cast<char*>(out.data());
  const char* src = static_cast<const char*>(file->data());
  for (int64_t b = 0; b < batch; ++b) {
    std::memcpy(dst + static_cast<size_t>(b) * row_bytes, src + static_cast<size_t>(b % n_rows) * row_bytes, row_bytes);
  }
  return out;
}

}  // namespace

absl::StatusOr<inference::ModelInferRequest> BuildRequest(const inference::ModelMetadataResponse& metadata,
                                                          const BenchOptions& options) {
  auto shapes = ParseShapes(options.shapes);
  if (!shapes.ok()) return shapes.status();
  std::map<std::string, std::string> files;
  for (const std::string& entry : options.input_data) {
    client::InferInput input = client::ParseInferInput(entry);
    if (input.tensor.empty()) {
      if (metadata.inputs_size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat("model '", options.model, "' has ", metadata.inputs_size(),
                                                       " inputs; name them: --input_data TENSOR=PATH.npy"));
      }
      input.tensor = metadata.inputs(0).name();
    }
    files[input.tensor] = input.path;
  }
  for (const auto& [name, path] : files) {
    bool known = false;
    for (const auto& in : metadata.inputs()) known = known || in.name() == name;
    if (!known) return absl::InvalidArgumentError(absl::StrCat("--input_data: model has no input '", name, "'"));
  }

  std::mt19937 rng(options.seed);
  std::vector<core::Tensor> tensors;
  tensors.reserve(static_cast<size_t>(metadata.inputs_size()));
  std::vector<client::NamedInput> named;
  for (const auto& input : metadata.inputs()) {
    std::optional<DataType> dtype = core::FromOipName(input.datatype());
    if (!dtype) {
      return absl::UnimplementedError(
          absl::StrCat("input '", input.name(), "': datatype ", input.datatype(), " is not supported by q8bench"));
    }
    auto dims = RequestShape(input, options, *shapes);
    if (!dims.ok()) return dims.status();
    const bool batched = input.shape_size() > 0 && input.shape(0) == -1;
    if (auto it = files.find(input.name()); it != files.end()) {
      auto t = FromNpy(it->second, *dtype, *dims, batched);
      if (!t.ok()) return t.status();
      tensors.push_back(*std::move(t));
    } else {
      core::Tensor t(*dtype, *dims);
      if (absl::Status s = FillRandom(t, rng); !s.ok()) return s;
      tensors.push_back(std::move(t));
    }
    named.push_back({input.name(), tensors.back().view()});
  }
  return client::BuildInferRequest(options.model, options.version, named, client::ContentMode::kRaw);
}

absl::StatusOr<std::vector<inference::ModelInferRequest>> BuildRequests(
    const inference::ModelMetadataResponse& metadata, const BenchOptions& options) {
  std::vector<inference::ModelInferRequest> requests;
  if (options.request_mix.empty()) {
    auto one = BuildRequest(metadata, options);
    if (!one.ok()) return one.status();
    requests.push_back(*std::move(one));
    return requests;
  }
  const std::string& path = options.request_mix;
  auto bytes = client::ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  // The mix is the user's own file: room for a few thousand requests.
  core::ZipLimits limits;
  limits.max_entries = 1 << 16;
  auto entries = core::ParseNpz(*bytes, limits);
  if (!entries.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", entries.status().message()));
  // Groups in archive order; the key after the first '/' names the input.
  std::vector<std::string> order;
  std::map<std::string, std::map<std::string, const core::Tensor*>> groups;
  for (const core::NamedTensor& e : *entries) {
    const size_t slash = e.name.find('/');
    const std::string group = slash == std::string::npos ? "" : e.name.substr(0, slash);
    const std::string tensor = slash == std::string::npos ? e.name : e.name.substr(slash + 1);
    bool known = false;
    for (const auto& in : metadata.inputs()) known = known || in.name() == tensor;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": key '", e.name, "': model '", options.model, "' has no input '", tensor, "'"));
    }
    if (groups.find(group) == groups.end()) order.push_back(group);
    groups[group][tensor] = &e.tensor;
  }
  if (order.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no arrays"));
  for (const std::string& group : order) {
    std::vector<client::NamedInput> named;
    for (const auto& input : metadata.inputs()) {
      auto it = groups[group].find(input.name());
      if (it == groups[group].end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": group '", group, "' has no array for input '", input.name(), "'"));
      }
      if (core::OipName(it->second->dtype()) != input.datatype()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": '", group, "/", input.name(), "' is ",
                                                       core::OipName(it->second->dtype()), ", the model wants ",
                                                       input.datatype()));
      }
      named.push_back({input.name(), it->second->view()});
    }
    auto request = client::BuildInferRequest(options.model, options.version, named, client::ContentMode::kRaw);
    if (!request.ok()) return request.status();
    requests.push_back(*std::move(request));
  }
  return requests;
}

}  // namespace q8::bench
