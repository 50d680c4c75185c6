// Renders the op table as Markdown; see operators_doc.h.
#include "engine/ops/operators_doc.h"

#include "absl/strings/str_cat.h"
#include "engine/ops/op_table.h"

namespace q8::engine {
namespace {

std::string Range(int lo, int hi) {
  if (hi < 0) return absl::StrCat(lo, "+");
  return lo == hi ? absl::StrCat(lo) : absl::StrCat(lo, "-", hi);
}

const char* LayoutName(LayoutPolicy p) {
  switch (p) {
    case LayoutPolicy::kChannelsLast:
      return "channels-last (NHWC)";
    case LayoutPolicy::kFollowInput:
      return "follows input 0";
    case LayoutPolicy::kPlain:
      return "plain row-major";
  }
  return "";
}

std::string Types(TypeMask mask) {
  TypeMask all = 0;
  for (int t = 1; t < static_cast<int>(core::DataType::kCount); ++t) all |= TypeMask{1} << t;
  return (mask & all) == all ? "any" : TypeMaskNames(mask);
}

// Element types per input slot: one entry when all slots agree.
std::string SlotTypes(const OpSignature& sig) {
  const int slots = sig.max_inputs < 0 ? 3 : std::min(sig.max_inputs, 3);
  std::string out;
  bool same = true;
  for (int i = 1; i < slots; ++i) same &= sig.input_types[i] == sig.input_types[0];
  if (same || slots <= 1) return slots == 0 ? "-" : Types(sig.input_types[0]);
  for (int i = 0; i < slots; ++i) {
    absl::StrAppend(&out, i == 0 ? "" : "; ", i == 2 && sig.max_inputs != 3 ? "inputs 2+: " : absl::StrCat(i, ": "),
                    Types(sig.input_types[i]));
  }
  return out;
}

}  // namespace

std::string SupportedOperatorsMarkdown() {
  std::string md =
      "# Supported ONNX operators\n\n"
      "Generated from the op table (`engine/ops/op_table.cc`) by `engine/ops/operators_doc.cc`; do not edit.\n"
      "`tests/unit/engine/operators_doc_test.cc` fails when this file and the table differ; regenerate with\n"
      "`Q8_UPDATE_OPERATORS_DOC=1 build/tests/unit/engine/engine_test --gtest_filter='OperatorsDocTest.*'`.\n\n"
      "An upload with any other op fails with `INVALID_ARGUMENT` naming the op and the node. Element types are\n"
      "what the import check lets through per input slot (input 0, 1, 2+); the op's lowering may restrict them\n"
      "further (a message names node, op and reason). What passes ONNX's own conformance cases is tracked in\n"
      "`tests/conformance/expected_failures.txt`.\n\n"
      "## Served ops\n\n"
      "| op | inputs | outputs | element types | activation layout |\n|---|---|---|---|---|\n";
  for (const std::string& name : SupportedOps()) {
    const OpDef* def = FindOp(name);
    const OpSignature& sig = def->signature;
    absl::StrAppend(&md, "| ", name, " | ", Range(sig.min_inputs, sig.max_inputs), " | ",
                    Range(sig.min_outputs, sig.max_outputs), " | ", SlotTypes(sig), " | ", LayoutName(def->layout),
                    " |\n");
  }
  absl::StrAppend(&md,
                  "\n## Folded at load only\n\n"
                  "Constant evaluation computes these when every input is a constant (shape arithmetic, weights\n"
                  "held in `Constant` nodes); a node of them that depends on a runtime input is refused.\n\n"
                  "| op | inputs | outputs | element types |\n|---|---|---|---|\n");
  for (const std::string& name : ConstantOnlyOps()) {
    const OpSignature& sig = *FindSignature(name);
    absl::StrAppend(&md, "| ", name, " | ", Range(sig.min_inputs, sig.max_inputs), " | ",
                    Range(sig.min_outputs, sig.max_outputs), " | ", SlotTypes(sig), " |\n");
  }
  absl::StrAppend(
      &md,
      "\n## Recurrent ops and resizing\n\n"
      "- LSTM, GRU, RNN run on oneDNN's RNN primitives in f32 (quantization leaves them f32). W, R, B, P and\n"
      "  initial_h/initial_c may be runtime inputs (W, R, B, P are then converted per request into plain\n"
      "  buffers the primitive reads; constant ones are packed once at load); sequence_lens must be absent or\n"
      "  a constant equal to seq_length for every batch entry; clip, input_forget and non-default activations\n"
      "  are refused (RNN: Tanh, Relu or Sigmoid, the same in both directions).\n"
      "  GRU runs oneDNN 2.6.3's `ref` RNN driver, the only one it has for GRU cells (its GEMMs use oneDNN's\n"
      "  jit sgemm): measured at T=50, N=8, I=H=256 on 2 threads, 0.58 ms per gate against 0.56 ms per gate\n"
      "  for the brgemm LSTM, so it is served.\n"
      "- Conv and ConvTranspose take weights and bias that are runtime inputs (or computed by the graph) in\n"
      "  f32: the weights are reordered per request into the layout the oneDNN implementation chose, inside the\n"
      "  workspace; quantization keeps such a conv in f32 (int8 needs weight scales when the plan is built).\n"
      "  BatchNormalization and InstanceNormalization take runtime scale/bias (and mean/variance) likewise.\n"
      "- TopK's K must be a constant or a graph input that only sets K (its value then keys the plan, like a\n"
      "  shape input); TopK, EyeLike, Shrink, IsNaN and IsInf run plain C++ kernels (oneDNN has no such op);\n"
      "  GlobalMaxPool is oneDNN's max pooling over the whole spatial extent. Einsum with a batched matmul\n"
      "  equation (`bij,bjk->bik`, `...ij,...jk->...ik`) runs oneDNN's matmul; any other equation (diagonals,\n"
      "  sums, transposes, inner and outer products) a plain C++ loop over every label.\n"
      "- Resize and Upsample run oneDNN's resampling where it computes exactly ONNX's result (nearest with\n"
      "  asymmetric/floor and integer upscale factors; linear with half_pixel or pytorch_half_pixel, output =\n"
      "  scale * input) and otherwise a plain C++ kernel with the semantics of ONNX's reference implementation\n"
      "  (all nearest modes, linear, cubic, every coordinate transformation). Scales, sizes and roi decide\n"
      "  the output shape: they must be constants or small graph inputs (FP32/FP64/INT32/INT64, at most 64\n"
      "  values), whose values then key the execution plan like input shapes do (at most `max_cached_plans`\n"
      "  plans per model; new values rebuild a plan). The same holds for Reshape shapes, Slice/Pad/Tile/...\n"
      "  parameters, Pad's constant_value and Range's bounds.\n"
      "- Range is computed when the model loads (constant bounds) or when a plan is built (bounds from graph\n"
      "  inputs, as above); bounds computed from other runtime data are refused, naming the node.\n"
      "- GridSample (4-D) runs a plain C++ kernel with PyTorch's grid_sample arithmetic; input and grid may\n"
      "  both be runtime values.\n");
  return md;
}

}  // namespace q8::engine
