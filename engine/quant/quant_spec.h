// QuantSpec: the quantizer's decisions in the form the planner consumes.
// Values listed in `values` may be stored as int8 with that scale; nodes
// listed in `layers` run int8 (or dynamic int8) kernels. Everything else is
// fp32. Keys are graph ids of the optimized graph the spec was made for.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "core/tensor.h"
#include "engine/graph/graph.h"

namespace q8::engine {

struct ValueQuant {
  core::DataType dtype = core::DataType::kInt8;  // kUInt8 (non-negative) or kInt8
  float scale = 1.0f;                             // real = scale * q
  bool operator==(const ValueQuant& o) const { return dtype == o.dtype && scale == o.scale; }
};

// A Conv, Gemm or MatMul running in int8.
struct LayerQuant {
  std::shared_ptr<const core::Tensor> qweights;  // s8; conv [OC,IC/g,KH,KW], matmul [K,N]
  std::vector<float> weight_scales;              // per output channel (or one, per-tensor)
  std::shared_ptr<const core::Tensor> bias;      // f32 real units (bias-corrected), or null
  bool dynamic = false;                          // activations quantized per request
};

struct QuantSpec {
  std::map<ValueId, ValueQuant> values;
  std::map<int, LayerQuant> layers;  // node index -> int8 layer
};

}  // namespace q8::engine
