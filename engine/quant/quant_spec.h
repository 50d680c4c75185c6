// QuantSpec: the quantizer's decisions in the form the planner consumes.
// Values listed in `values` may be stored as int8 with that scale; nodes
// listed in `layers` run int8 (or dynamic int8) kernels; nodes in
// `bf16_layers` (the fallback ladder's middle rung) run bf16 kernels where the
// CPU has bf16 compute. Everything else is fp32. Keys are graph ids of the
// optimized graph the spec was made for.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "engine/graph/graph.h"

namespace q8::engine {

// How a value is stored in int8: symmetric (zero point 0; u8 for
// non-negative tensors, s8 otherwise) or asymmetric (u8 with a zero point,
// chosen by the quantizer for a skewed tensor that only int8 MatMul/Gemm
// layers read: quantizer.h, ChooseActivationScheme).
struct ValueQuant {
  core::DataType dtype = core::DataType::kInt8;  // kUInt8 or kInt8
  float scale = 1.0f;                            // real = scale * (q - zero_point)
  int32_t zero_point = 0;                        // kUInt8 only, in [0, 255]
  bool asymmetric() const { return zero_point != 0; }
  bool operator==(const ValueQuant& o) const {
    return dtype == o.dtype && scale == o.scale && zero_point == o.zero_point;
  }
};

// A Conv, Gemm or MatMul running in int8.
struct LayerQuant {
  std::shared_ptr<const core::Tensor> qweights;  // s8; conv [OC,IC/g,KH,KW], matmul [K,N]
  std::vector<float> weight_scales;              // per output channel (or one, per-tensor)
  std::shared_ptr<const core::Tensor> bias;      // f32 real units (bias-corrected), or null
  bool dynamic = false;                          // activations quantized per request
};

// Ops that run on int8 data in the scale it arrives with, so their inputs and
// output share one scale (the quantizer unites them, the planner keeps them
// int8). Average pooling is not one: its output spans a narrower range than
// its input and oneDNN's int8 pooling cannot rescale, so it would waste most
// of the grid (on ResNet-18 the classifier lost ~15 dB SQNR that way). It runs
// in f32 and the next int8 layer quantizes its own input with its own scale.
inline bool KeepsInputScale(const std::string& op_type) {
  return op_type == "MaxPool" || op_type == "Relu" || op_type == "Concat";
}

struct QuantSpec {
  std::map<ValueId, ValueQuant> values;
  std::map<int, LayerQuant> layers;  // node index -> int8 layer
  // The weights are those of the graph after cross-layer equalization
  // (engine/quant/equalization.h): a reload must equalize again first.
  bool equalized = false;
  std::set<int> bf16_layers;  // Conv / Gemm / MatMul nodes in bf16 (never also in `layers`)
};

}  // namespace q8::engine
