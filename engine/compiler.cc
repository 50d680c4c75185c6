// Compile(): import -> validate -> passes -> lower -> metadata -> warm-up.
#include "engine/compiler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/status_macros.h"
#include "engine/exception_guard.h"
#include "engine/import/onnx_importer.h"
#include "engine/model_builder.h"
#include "engine/passes/constant_eval.h"
#include "engine/passes/pipeline.h"
#include "engine/plan/shape_inference.h"
#include "engine/plan/specialize.h"
#include "kernels/program.h"

namespace q8::engine {
namespace {

// Float constants at least this big are weights; smaller ones (shapes,
// scalars) stay in the model's graph.
constexpr int64_t kStripConstantBytes = 1024;

// Every value's dims with the inputs at RepresentativeDims(batch, other),
// shape subgraphs folded when the model needs specialization.
absl::StatusOr<std::vector<core::Dims>> RepresentativeValueDims(const Graph& g, int64_t opset, bool specialize,
                                                                int64_t batch, int64_t other) {
  PlanShapes shapes;
  for (const GraphInput& in : g.inputs()) {
    shapes.dims.push_back(RepresentativeDims(in, batch, other));
    shapes.values.push_back(nullptr);
  }
  if (!specialize) return InferValueDims(g, opset, shapes.dims);
  Q8_ASSIGN_OR_RETURN(Graph specialized, SpecializeGraph(g, opset, shapes));
  return InferValueDims(specialized, opset, shapes.dims);
}

bool HasShapeValueInputs(const Graph& g) {
  for (bool v : ShapeValueInputs(g)) {
    if (v) return true;
  }
  return false;
}

bool HasDynamicNonBatchAxis(const Graph& g) {
  for (const GraphInput& in : g.inputs()) {
    for (size_t d = 1; d < in.dims.size(); ++d) {
      if (in.dims[d] == core::kDynamicDim) return true;
    }
  }
  return false;
}

// The representative size for dynamic non-batch axes: kRepresentativeSize if
// the graph's shapes hold there, else the largest smaller candidate where
// they do (a table of 20 positions refuses 32 tokens, not the model). When
// none does, the error at kRepresentativeSize.
absl::StatusOr<int64_t> ChooseRepresentativeSize(const Graph& g, int64_t opset, bool specialize) {
  auto at_default = RepresentativeValueDims(g, opset, specialize, 1, kRepresentativeSize);
  if (at_default.ok()) return kRepresentativeSize;
  if (!HasDynamicNonBatchAxis(g) || !absl::IsInvalidArgument(at_default.status())) return at_default.status();
  for (int64_t size : {24, 16, 12, 8, 6, 4, 3, 2, 1}) {
    if (RepresentativeValueDims(g, opset, specialize, 1, size).ok()) return size;
  }
  return at_default.status();
}

// Public dims: infer at two representative shapes (batch 1 and 2, other
// dynamic axes at the representative size and 1.5x it, or half of it where
// the model caps them); dims that change are dynamic.
// Outputs shaped by input values cannot be known: rank 1, dynamic.
absl::StatusOr<std::vector<TensorInfo>> OutputInfos(const Graph& g, int64_t opset, bool batchable, bool specialize) {
  std::vector<TensorInfo> infos;
  if (HasShapeValueInputs(g)) {
    for (const GraphOutput& o : g.outputs()) {
      infos.push_back({o.name, o.dtype == core::DataType::kUndefined ? core::DataType::kFloat32 : o.dtype,
                       core::Dims{core::kDynamicDim}});
    }
    return infos;
  }
  const int64_t size = g.inputs().empty() ? kRepresentativeSize : g.inputs()[0].representative_size;
  Q8_ASSIGN_OR_RETURN(auto d1, RepresentativeValueDims(g, opset, specialize, 1, size));
  std::vector<core::Dims> d2 = d1;
  if (batchable || specialize) {
    const int64_t batch = batchable ? 2 : 1;
    auto larger = RepresentativeValueDims(g, opset, specialize, batch, size + std::max<int64_t>(1, size / 2));
    if (!larger.ok() && size > 1) {
      larger = RepresentativeValueDims(g, opset, specialize, batch, size / 2);
    }
    Q8_ASSIGN_OR_RETURN(d2, std::move(larger));
  }
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

// The requested warm-up batch sizes, or the one a fixed first axis allows.
std::vector<int64_t> WarmupSizes(const OnnxModel& model, const CompileOptions& options) {
  if (!model.inputs().empty() && !model.inputs()[0].dims.empty() && model.inputs()[0].dims[0] != core::kDynamicDim) {
    return {model.inputs()[0].dims[0]};
  }
  return options.warmup_batch_sizes;
}

absl::Status WarmUp(const OnnxModel& model, const std::vector<int64_t>& sizes, int64_t max_batch) {
  if (!model.can_warm_up()) return absl::OkStatus();
  for (int64_t batch : sizes) {
    if (batch < 1 || batch > max_batch) continue;
    std::vector<core::Tensor> zeros;
    std::vector<core::TensorView> views;
    const std::vector<core::Dims> dims = model.ExampleInputDims(batch);
    for (size_t i = 0; i < dims.size(); ++i) {
      zeros.emplace_back(model.inputs()[i].dtype, dims[i]);
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
    for (GraphInput& in : graph->inputs()) {
      if (!in.dims.empty() && in.dims[0] == core::kDynamicDim) in.dims[0] = 1;
    }
  }
  // An input stated empty can carry no data; only as a plan parameter (an
  // empty axes list) does it mean something.
  const std::vector<bool> parameters = ShapeValueInputs(*graph);
  for (size_t i = 0; i < graph->inputs().size(); ++i) {
    const GraphInput& in = graph->inputs()[i];
    for (size_t d = 0; d < in.dims.size(); ++d) {
      if (in.dims[d] == 0 && !parameters[i]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "invalid ONNX model: graph input '", graph->value(in.value).name, "' axis ", d,
            " has size 0; every axis needs a positive or a symbolic (dynamic) size (an empty input can only set "
            "plan parameters, such as an empty axes list)"));
      }
    }
  }
  // Every op must be supported and every shape consistent before anything is
  // built (at representative sizes for dynamic axes). Where input
  // values set shapes, only op support can be checked before a request.
  if (HasShapeValueInputs(*graph)) {
    for (const Node& n : graph->nodes()) {
      if (n.removed || FindOp(n.op_type) != nullptr || CanEvaluateConstant(n.op_type)) continue;
      Q8_RETURN_IF_ERROR(ResolveOps(*graph).status());
    }
  } else {
    Q8_ASSIGN_OR_RETURN(const int64_t size,
                        ChooseRepresentativeSize(*graph, prepared.opset, NeedsSpecialization(*graph)));
    for (GraphInput& in : graph->inputs()) in.representative_size = size;
  }
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
  parts.specialize = NeedsSpecialization(g);
  parts.shape_value_inputs = ShapeValueInputs(g);
  Q8_ASSIGN_OR_RETURN(parts.outputs, OutputInfos(g, parts.opset, parts.batchable, parts.specialize));
  parts.report.isa = kernels::CpuIsa();
  if (parts.specialize) {
    // Each plan lowers its own specialization of the graph, so the model
    // keeps the graph whole (and the full QuantSpec); weight ids still let
    // plans share the kernels' reordered copies.
    LoweredGraph lowered = SpecializingLowering(g, parts.opset, quant.get());
    auto model = std::make_shared<OnnxModel>(std::move(parts), std::move(lowered));
    Q8_RETURN_IF_ERROR(WarmUp(*model, WarmupSizes(*model, options), options.max_batch_size));
    return model;
  }
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
  auto model = std::make_shared<OnnxModel>(std::move(parts), std::move(lowered));
  Q8_RETURN_IF_ERROR(WarmUp(*model, WarmupSizes(*model, options), options.max_batch_size));
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
