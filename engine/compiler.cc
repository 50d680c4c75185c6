// Compile(): import -> validate -> passes -> lower -> metadata -> warm-up.
#include "engine/compiler.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/status_macros.h"
#include "engine/exception_guard.h"
#include "engine/import/onnx_importer.h"
#include "engine/model_builder.h"
#include "engine/passes/pipeline.h"
#include "engine/plan/shape_inference.h"
#include "kernels/program.h"

namespace q8::engine {
namespace {

// Float constants at least this big are weights; smaller ones (shapes,
// scalars) stay in the model's graph.
constexpr int64_t kStripConstantBytes = 1024;

// Public dims: infer at batch 1 and 2; dims that change are the batch dim.
absl::StatusOr<std::vector<TensorInfo>> OutputInfos(const Graph& g, int64_t opset, bool batchable) {
  Q8_ASSIGN_OR_RETURN(auto d1, InferValueDims(g, opset, 1));
  std::vector<core::Dims> d2 = d1;
  if (batchable) {
    Q8_ASSIGN_OR_RETURN(d2, InferValueDims(g, opset, 2));
  }
  std::vector<TensorInfo> infos;
  for (const GraphOutput& o : g.outputs()) {
    // Programs write FP32 outputs; the model converts to the declared type at the edge.
    TensorInfo info{o.name, o.dtype == core::DataType::kUndefined ? core::DataType::kFloat32 : o.dtype, d1[o.value]};
    for (size_t k = 0; k < info.dims.size(); ++k) {
      if (d2[o.value][k] != d1[o.value][k]) info.dims[k] = core::kDynamicDim;
    }
    infos.push_back(std::move(info));
  }
  return infos;
}

absl::Status WarmUp(const OnnxModel& model, const std::vector<int64_t>& sizes, int64_t max_batch) {
  for (int64_t batch : sizes) {
    if (batch < 1 || batch > max_batch) continue;
    std::vector<core::Tensor> zeros;
    std::vector<core::TensorView> views;
    for (const TensorInfo& in : model.inputs()) {
      zeros.emplace_back(in.dtype, core::WithBatch(in.dims, batch));
      views.push_back(zeros.back().view());
    }
    auto warm = model.CompiledModel::Run(views);
    if (!warm.ok()) {
      return absl::Status(warm.status().code(),
                          absl::StrCat("warm-up at batch ", batch, " failed: ", warm.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PreparedGraph> PrepareGraph(absl::string_view onnx_bytes, const CompileOptions& options) {
  if (options.max_batch_size < 1) return absl::InvalidArgumentError("max_batch_size must be >= 1");
  Q8_ASSIGN_OR_RETURN(ImportedModel imported, ImportOnnx(onnx_bytes));
  auto graph = std::make_shared<Graph>(std::move(imported.graph));
  PreparedGraph prepared;
  prepared.opset = imported.opset;
  prepared.report.onnx_nodes = graph->num_live_nodes();
  Q8_ASSIGN_OR_RETURN(prepared.report.passes_applied,
                      RunPassPipeline(*graph, PassContext{prepared.opset}, options.disabled_passes));
  prepared.report.optimized_nodes = graph->num_live_nodes();
  bool batchable = true;
  for (const GraphInput& in : graph->inputs()) batchable &= !in.dims.empty() && in.dims[0] == core::kDynamicDim;
  if (!batchable) {
    // Fixed-shape model: the batch dimension, if any, is whatever the model says.
    for (GraphInput& in : graph->inputs()) in.dims = core::WithBatch(in.dims, 1);
  }
  // Every op must be supported and every shape consistent before anything is built.
  Q8_RETURN_IF_ERROR(InferValueDims(*graph, prepared.opset, 1).status());
  prepared.graph = std::move(graph);
  return prepared;
}

absl::StatusOr<std::shared_ptr<OnnxModel>> BuildModel(const PreparedGraph& prepared, const CompileOptions& options,
                                                      std::shared_ptr<const QuantSpec> quant) {
  const Graph& g = *prepared.graph;
  OnnxModel::Parts parts;
  parts.graph = prepared.graph;
  parts.quant = quant;
  parts.opset = prepared.opset;
  parts.max_batch_size = options.max_batch_size;
  if (options.max_cached_plans < 0) return absl::InvalidArgumentError("max_cached_plans must be >= 0");
  parts.max_cached_plans = static_cast<size_t>(options.max_cached_plans);
  parts.report = prepared.report;
  for (const GraphInput& in : g.inputs()) {
    parts.batchable &= !in.dims.empty() && in.dims[0] == core::kDynamicDim;
    parts.inputs.push_back({g.value(in.value).name, in.dtype, in.dims});
    parts.input_runtime_dtypes.push_back(g.value(in.value).dtype);
  }
  Q8_ASSIGN_OR_RETURN(parts.outputs, OutputInfos(g, parts.opset, parts.batchable));
  Q8_ASSIGN_OR_RETURN(LoweredGraph lowered, LowerGraph(g, parts.opset, quant.get()));
  // The lowering now holds every weight the kernels need. The model keeps a
  // graph without the big float constants and a spec without int8 weights,
  // so once warm-up has handed the weights to the kernels nothing else pins them.
  parts.graph = std::make_shared<const Graph>(g.WithoutLargeConstants(kStripConstantBytes));
  lowered.graph = parts.graph.get();
  if (quant) {
    auto light = std::make_shared<QuantSpec>(*quant);
    for (auto& [node, layer] : light->layers) layer.qweights = nullptr;
    parts.quant = light;
    lowered.quant = light.get();
  }
  parts.report.isa = kernels::CpuIsa();
  auto model = std::make_shared<OnnxModel>(std::move(parts), std::move(lowered));
  std::vector<int64_t> sizes = options.warmup_batch_sizes;
  if (!model->inputs().empty() && !model->inputs()[0].dims.empty() && model->inputs()[0].dims[0] != core::kDynamicDim) {
    sizes = {model->inputs()[0].dims[0]};
  }
  Q8_RETURN_IF_ERROR(WarmUp(*model, sizes, options.max_batch_size));
  if (model->has_programs()) model->ReleaseWeightSources();
  return model;
}

absl::StatusOr<std::shared_ptr<const CompiledModel>> Compile(absl::string_view onnx_bytes,
                                                             const CompileOptions& options) {
  return GuardExceptions("compiling the model", [&]() -> absl::StatusOr<std::shared_ptr<const CompiledModel>> {
    const absl::Time start = absl::Now();
    Q8_ASSIGN_OR_RETURN(PreparedGraph prepared, PrepareGraph(onnx_bytes, options));
    Q8_ASSIGN_OR_RETURN(std::shared_ptr<OnnxModel> model, BuildModel(prepared, options));
    model->mutable_report().compile_seconds = absl::ToDoubleSeconds(absl::Now() - start);
    return std::shared_ptr<const CompiledModel>(std::move(model));
  });
}

}  // namespace q8::engine
