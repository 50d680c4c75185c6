// Artifact JSON. Nodes are keyed by index in the optimized graph and checked
// by name, values by name: both are deterministic for a given model file and
// q8serve version, and the format version guards the rest.
#include "engine/quant/artifact.h"

#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/status_macros.h"
#include "engine/quant/quantizer.h"

namespace q8::engine {

using nlohmann::json;

namespace {
constexpr int kFormatVersion = 1;
constexpr const char* kFormat = "q8serve-quantization";

// FNV-1a 64 and the size: cheap, deterministic, and enough to tell two model
// files apart (this guards against mistakes, not adversaries).
std::string Fingerprint(absl::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return absl::StrCat(absl::Hex(h, absl::kZeroPad16), "-", bytes.size());
}

std::vector<float> Floats(const core::Tensor& t) {
  auto s = t.span<float>();
  return {s.begin(), s.end()};
}
}  // namespace

std::string SerializeArtifact(const Graph& graph, const QuantSpec& spec, const QuantizationOptions& options,
                              absl::string_view model_bytes, const std::vector<ChannelRescale>& rescales) {
  json j;
  j["format"] = kFormat;
  j["version"] = kFormatVersion;
  if (!model_bytes.empty()) j["model_fingerprint"] = Fingerprint(model_bytes);
  j["mode"] = ToString(options.mode);
  if (spec.equalized) j["equalized"] = true;
  json values = json::array();
  for (const auto& [v, q] : spec.values) {
    json value = {{"name", graph.value(v).name}, {"dtype", core::OipName(q.dtype)}, {"scale", q.scale}};
    if (q.asymmetric()) value["zero_point"] = q.zero_point;  // absent = 0: older artifacts read unchanged
    values.push_back(std::move(value));
  }
  j["values"] = std::move(values);
  json layers = json::array();
  for (const auto& [i, lq] : spec.layers) {
    json l = {
        {"index", i}, {"node", graph.nodes()[i].name}, {"dynamic", lq.dynamic}, {"weight_scales", lq.weight_scales}};
    l["bias"] = lq.bias ? json(Floats(*lq.bias)) : json(nullptr);
    layers.push_back(std::move(l));
  }
  j["layers"] = std::move(layers);
  // Written only when present, so artifacts without SmoothQuant keep their bytes.
  if (!rescales.empty()) {
    json r = json::array();
    for (const ChannelRescale& c : rescales) r.push_back({{"tensor", graph.value(c.value).name}, {"scales", c.scales}});
    j["channel_rescales"] = std::move(r);
  }
  // Written only when present: artifacts without bf16 layers keep their bytes.
  if (!spec.bf16_layers.empty()) {
    json bf16 = json::array();
    for (int i : spec.bf16_layers) bf16.push_back({{"index", i}, {"node", graph.nodes()[i].name}});
    j["bf16_layers"] = std::move(bf16);
  }
  return j.dump(1);
}

bool ArtifactEqualized(absl::string_view artifact) {
  json j = json::parse(artifact, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("equalized")) return false;
  const json& e = j.at("equalized");
  return e.is_boolean() && e.get<bool>();
}

absl::StatusOr<ParsedArtifact> ParseArtifact(const LoweredGraph& fp32, const std::string& artifact,
                                             absl::string_view model_bytes) {
  const Graph& g = *fp32.graph;
  json j = json::parse(artifact, nullptr, /*allow_exceptions=*/false);
  ParsedArtifact parsed;
  try {
    if (j.is_discarded() || !j.is_object() || !j.contains("format") || j.at("format") != kFormat) {
      return absl::DataLossError("quantization artifact is not a q8serve quantization file");
    }
    if (j.at("version") != kFormatVersion) {
      return absl::DataLossError(absl::StrCat("quantization artifact has format version ", j.at("version").dump(),
                                              "; this q8serve reads version ", kFormatVersion));
    }
    if (!model_bytes.empty() && j.contains("model_fingerprint") &&
        j.at("model_fingerprint").get<std::string>() != Fingerprint(model_bytes)) {
      return absl::DataLossError(
          "quantization artifact was made for a different model file (fingerprint mismatch); delete "
          "quantization.json and report.json to quantize this model again");
    }
    auto mode = ParseQuantMode(j.at("mode").get<std::string>());
    if (!mode.ok()) return absl::DataLossError(mode.status().message());
    parsed.mode = *mode;
    parsed.spec.equalized = j.contains("equalized") && j.at("equalized").get<bool>();
    std::map<std::string, ValueId> by_name;
    for (ValueId v = 0; v < g.num_values(); ++v) by_name[g.value(v).name] = v;
    for (const json& v : j.at("values")) {
      auto it = by_name.find(v.at("name").get<std::string>());
      auto dtype = core::FromOipName(v.at("dtype").get<std::string>());
      if (it == by_name.end() || !dtype) {
        return absl::DataLossError(absl::StrCat("quantization artifact names tensor '", v.at("name").get<std::string>(),
                                                "', which the model does not have"));
      }
      const int32_t zero_point = v.value("zero_point", 0);
      if (zero_point != 0 && (*dtype != core::DataType::kUInt8 || zero_point < 0 || zero_point > 255)) {
        return absl::DataLossError(absl::StrCat("quantization artifact tensor '", v.at("name").get<std::string>(),
                                                "' has zero point ", zero_point, " (only UINT8 in [0, 255])"));
      }
      parsed.spec.values[it->second] = {*dtype, v.at("scale").get<float>(), zero_point};
    }
    for (const json& l : j.at("layers")) {
      const int index = l.at("index").get<int>();
      if (index < 0 || index >= static_cast<int>(g.nodes().size()) ||
          g.nodes()[index].name != l.at("node").get<std::string>()) {
        return absl::DataLossError(absl::StrCat("quantization artifact layer '", l.at("node").get<std::string>(),
                                                "' does not match the model's node ", index));
      }
      const Lowering& low = fp32.lowerings[index];
      const auto* conv = std::get_if<kernels::ConvParams>(&low.params);
      const auto* mm = std::get_if<kernels::MatMulParams>(&low.params);
      const kernels::ConstTensorPtr weights = conv ? conv->weights : mm ? mm->weights : nullptr;
      if (weights == nullptr) return absl::DataLossError(absl::StrCat("layer ", index, " has no float weights"));
      LayerQuant lq;
      lq.dynamic = l.at("dynamic").get<bool>();
      lq.weight_scales = l.at("weight_scales").get<std::vector<float>>();
      const int axis = conv ? 0 : 1;
      if (static_cast<int64_t>(lq.weight_scales.size()) != weights->dims()[axis]) {
        return absl::DataLossError(absl::StrCat("layer ", index, " has ", lq.weight_scales.size(), " weight scales"));
      }
      lq.qweights = QuantizeWithScales(*weights, axis, lq.weight_scales);
      if (!l.at("bias").is_null()) {
        auto b = l.at("bias").get<std::vector<float>>();
        lq.bias = std::make_shared<core::Tensor>(core::Tensor::FromFloats({static_cast<int64_t>(b.size())}, b));
      } else {
        lq.bias = conv ? conv->bias : mm->bias;
      }
      parsed.spec.layers[index] = std::move(lq);
    }
    for (const json& l : j.value("bf16_layers", json::array())) {
      const int index = l.at("index").get<int>();
      if (index < 0 || index >= static_cast<int>(g.nodes().size()) ||
          g.nodes()[index].name != l.at("node").get<std::string>() || parsed.spec.layers.count(index)) {
        return absl::DataLossError(absl::StrCat("quantization artifact bf16 layer '", l.at("node").get<std::string>(),
                                                "' does not match the model's node ", index, " or is also int8"));
      }
      parsed.spec.bf16_layers.insert(index);
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat("quantization artifact is malformed: ", e.what()));
  }
  return parsed;
}

absl::StatusOr<PreparedGraph> ApplyArtifactRescales(const PreparedGraph& prepared, absl::string_view artifact) {
  json j = json::parse(artifact, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("channel_rescales"))
    return prepared;  // ParseArtifact judges the rest
  const Graph& g = *prepared.graph;
  std::map<std::string, ValueId> by_name;
  for (ValueId v = 0; v < g.num_values(); ++v) by_name[g.value(v).name] = v;
  std::vector<ChannelRescale> rescales;
  try {
    for (const json& r : j.at("channel_rescales")) {
      auto it = by_name.find(r.at("tensor").get<std::string>());
      if (it == by_name.end()) {
        return absl::DataLossError(absl::StrCat("quantization artifact rescales tensor '",
                                                r.at("tensor").get<std::string>(), "', which the model does not have"));
      }
      rescales.push_back({it->second, r.at("scales").get<std::vector<float>>()});
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat("quantization artifact is malformed: ", e.what()));
  }
  auto graph = std::make_shared<Graph>(g);
  Q8_RETURN_IF_ERROR(ApplyRescales(*graph, rescales));
  PreparedGraph out = prepared;
  out.graph = std::move(graph);
  return out;
}

}  // namespace q8::engine
