// The precision stage: for every node of a lowered graph, the precision in
// which it reads each runtime input and stores output 0 (f32, bf16, or u8/s8
// with a scale). It is decided once per lowering, before any plan exists, and is
// independent of batch size, shapes and layouts; the planner (which adds the
// reorders at the seams), the quantization report and the QDQ exporter all
// read this one map instead of re-deriving the rules. (A model whose plans
// are specialized per input shape, specialize.h, runs the stage on each
// specialized graph: the same rules, over the nodes left after folding.)
//
// Rules, node by node in topological order:
//  - a Conv whose weights or bias a request sends (or the graph computes)
//    reads and stores f32 whatever QuantSpec says: int8 needs per-channel
//    weight scales fixed when the primitive is built, and those weights are
//    unknown until a request arrives (the quantizer never lists such a
//    layer; this rule keeps a hand-edited artifact from changing that);
//  - an int8 layer (QuantSpec::layers, not dynamic, with a quantized main
//    input) reads its quantized inputs as int8 in their own scale and stores
//    int8 when its output is quantized, not a graph output, and some
//    consumer can read int8; otherwise it stores f32;
//  - a bf16 layer (QuantSpec::bf16_layers, a Conv or MatMul with constant
//    weights, on a CPU with bf16 compute: kernels::HasBf16Compute(); f32
//    elsewhere) reads its runtime inputs as bf16 and stores bf16 only when
//    every consumer is a bf16 layer and the value is no graph output, else
//    f32: f32 is what every other consumer reads, so the conversion happens
//    once, inside the primitive, instead of as a separate Reorder;
//  - transparent ops (KeepsInputScale, aliases) read and store whatever
//    precision their first input is stored in, unless it is asymmetric (a
//    zero point: Relu and padding would treat q = 0 as real 0): then f32;
//  - asymmetric int8 (a zero point) is read only by int8 MatMul/Gemm layers
//    (the kernel folds it into the bias) and stored only by them or by a
//    quantizing Reorder: another int8 layer reading an asymmetric input runs
//    f32, and one whose output is asymmetric stores f32 (the quantizer never
//    lists such a layout; this keeps a hand-edited artifact from reaching a
//    kernel that cannot take a zero point);
//  - everything else reads and stores f32 (further outputs, e.g. Split's,
//    are always f32).
// An accumulating conv reads its residual in the residual's precision when
// that has the output's element size (it adds into those bytes), else in
// the output's.
// An accumulating MatMul (a transformer's residual add) reads its residual
// and stores its output f32 at any precision of its inputs.
#pragma once

#include <vector>

#include "core/dtype.h"
#include "engine/graph/graph.h"
#include "engine/ops/op_table.h"
#include "engine/quant/quant_spec.h"

namespace q8::engine {

// f32 or bf16 (scale unused), or int8 with real = scale * (q - zero_point).
struct ValuePrecision {
  core::DataType dtype = core::DataType::kFloat32;
  float scale = 1.0f;
  int32_t zero_point = 0;  // asymmetric u8 only

  bool is_int8() const { return dtype == core::DataType::kUInt8 || dtype == core::DataType::kInt8; }
  bool operator==(const ValuePrecision& o) const {
    return dtype == o.dtype && (!is_int8() || (scale == o.scale && zero_point == o.zero_point));
  }
};

struct NodePrecision {
  std::vector<ValuePrecision> inputs;  // per Lowering::runtime_inputs entry, in that order
  ValuePrecision output;               // how output 0 is stored
};

// One entry per node of `graph`; `lowerings` are its per-node lowerings and
// `quant` the quantization (null: everything f32).
std::vector<NodePrecision> AssignPrecision(const Graph& graph, const std::vector<Lowering>& lowerings,
                                           const QuantSpec* quant);

}  // namespace q8::engine
