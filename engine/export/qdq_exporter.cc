// ExportQdqOnnx: prepare the graph exactly as serving does (same passes, so
// the artifact's node indices and value names match), lower it with the
// parsed quantization, read its precision stage's decisions and emit.
#include "engine/export/qdq_exporter.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/export/onnx_graph_writer.h"
#include "engine/export/qdq_emitter.h"
#include "engine/model_builder.h"
#include "engine/plan/shape_inference.h"
#include "engine/quant/artifact.h"
#include "engine/quant/equalization.h"

namespace q8::engine {
namespace {

// 17: the first with LayerNormalization (HardSwish came in 14).
constexpr int64_t kOpset = 17;
constexpr int64_t kIrVersion = 8;  // the IR version that opset 17 requires
constexpr const char* kBatchParam = "batch";

void SetFloatType(const core::Dims& dims, const core::Dims* other_batch, onnx::ValueInfoProto* info) {
  auto* t = info->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = t->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    auto* d = shape->add_dim();
    // A dim that changes with the batch size is the (symbolic) batch dim.
    const bool dynamic = dims[i] == core::kDynamicDim || (other_batch != nullptr && (*other_batch)[i] != dims[i]);
    if (dynamic) {
      d->set_dim_param(kBatchParam);
    } else {
      d->set_dim_value(dims[i]);
    }
  }
}

}  // namespace

absl::StatusOr<std::string> ExportQdqOnnx(absl::string_view float_onnx_bytes, absl::string_view artifact) {
  Q8_ASSIGN_OR_RETURN(PreparedGraph plain, PrepareGraph(float_onnx_bytes, CompileOptions{}));
  // The constants the scales were made for: equalized first (when it was),
  // then SmoothQuant's folded gamma/beta and weights, in the upload's order.
  if (ArtifactEqualized(artifact)) ApplyEqualization(plain, Equalization::kOn, true);
  if (artifact.empty()) return ExportQdqGraph(plain, nullptr, "q8serve optimized graph, fp32");
  Q8_ASSIGN_OR_RETURN(PreparedGraph prepared, ApplyArtifactRescales(plain, artifact));
  Q8_ASSIGN_OR_RETURN(LoweredGraph fp32, LowerGraph(*prepared.graph, prepared.opset));
  Q8_ASSIGN_OR_RETURN(ParsedArtifact parsed, ParseArtifact(fp32, std::string(artifact), float_onnx_bytes));
  // bf16 layers are written in float: ONNX runtimes have no portable bf16
  // Conv/MatMul, and float is what bf16 approximates (the note says so).
  std::string bf16_note;
  for (int i : parsed.spec.bf16_layers) {
    absl::StrAppend(&bf16_note, bf16_note.empty() ? "; layers q8serve runs in bf16, exported in float: " : ", ",
                    prepared.graph->nodes()[i].name);
  }
  return ExportQdqGraph(prepared, &parsed.spec,
                        absl::StrCat("q8serve optimized graph, quantization mode ", ToString(parsed.mode),
                                     "; int8 storage as QuantizeLinear/DequantizeLinear (zero point 0, "
                                     "or a UINT8 zero point for asymmetric activations)",
                                     bf16_note));
}

absl::StatusOr<std::string> ExportQdqGraph(const PreparedGraph& prepared, const QuantSpec* spec,
                                           absl::string_view description) {
  const Graph& g = *prepared.graph;
  Q8_ASSIGN_OR_RETURN(LoweredGraph fp32, LowerGraph(g, prepared.opset));
  // The int8 lowering is needed for its precision stage's decisions.
  Q8_ASSIGN_OR_RETURN(LoweredGraph quantized, LowerGraph(g, prepared.opset, spec));

  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("q8serve");
  model.set_producer_version("qdq-export-1");
  model.set_doc_string(std::string(description));
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name("q8serve_qdq");

  OnnxGraphWriter writer(graph);
  for (const GraphInput& in : g.inputs()) {
    writer.Reserve(g.value(in.value).name);
    SetFloatType(in.dims, nullptr, graph->add_input());
    graph->mutable_input(graph->input_size() - 1)->set_name(g.value(in.value).name);
  }
  for (const GraphOutput& o : g.outputs()) writer.Reserve(o.name);

  QdqSource source{g, fp32, spec, quantized.precision};
  QdqEmitter emitter(source, writer);
  Q8_RETURN_IF_ERROR(emitter.EmitAll());

  // Output shapes at batch 1, with the dims that differ at batch 2 symbolic.
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> dims1, InferValueDims(g, prepared.opset, 1));
  bool batchable = true;
  for (const GraphInput& in : g.inputs()) batchable &= !in.dims.empty() && in.dims[0] == core::kDynamicDim;
  std::vector<core::Dims> dims2;
  if (batchable) {
    Q8_ASSIGN_OR_RETURN(dims2, InferValueDims(g, prepared.opset, 2));
  }
  for (const GraphOutput& o : g.outputs()) {
    onnx::ValueInfoProto* info = graph->add_output();
    info->set_name(o.name);
    SetFloatType(dims1[o.value], batchable ? &dims2[o.value] : nullptr, info);
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return absl::InternalError("QDQ export: protobuf serialization failed");
  return bytes;
}

}  // namespace q8::engine
