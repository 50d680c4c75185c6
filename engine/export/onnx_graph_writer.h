// OnnxGraphWriter: appends nodes and initializers to an onnx::GraphProto
// under unique tensor names, and knows the QuantizeLinear/DequantizeLinear
// encodings q8serve's quantization maps to (symmetric, zero point 0; the
// zero point's element type carries the signedness: UINT8 or INT8).
// Used only by the QDQ exporter (engine/export may see ONNX protobuf).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "engine/graph/attributes.h"
#include "onnx/onnx_pb.h"

namespace q8::engine {

class OnnxGraphWriter {
 public:
  explicit OnnxGraphWriter(onnx::GraphProto* graph) : graph_(graph) {}

  // Exact names that Fresh() must never hand out (graph inputs/outputs).
  void Reserve(const std::string& name) { used_.insert(name); }
  // Claims `name` if nobody has it yet; false when taken.
  bool Claim(const std::string& name) { return used_.insert(name).second; }
  // `base`, or `base_2`, `base_3`, ... whichever is still free; claimed.
  std::string Fresh(const std::string& base);

  // Initializer holding `t` (any dtype, raw little-endian bytes).
  std::string Initializer(const std::string& base, const core::Tensor& t);
  std::string FloatScalar(const std::string& base, float v);

  // A node named after `base`; inputs "" mark omitted optional inputs.
  onnx::NodeProto& Node(const std::string& op_type, const std::string& base, std::vector<std::string> inputs,
                        std::vector<std::string> outputs);

  // x -> QuantizeLinear(scale, zp) -> DequantizeLinear -> `out` (per tensor).
  // `dtype` is kUInt8 or kInt8; `zero_point` non-zero for asymmetric u8
  // only. Each pair gets its own scale initializer (named after x); zero
  // point initializers are shared per (dtype, value).
  void QuantDequant(const std::string& x, core::DataType dtype, float scale, int32_t zero_point,
                    const std::string& out);

  // DequantizeLinear of a constant s8 tensor with one scale per slice of
  // `axis` (zero points 0); returns the float output's name.
  std::string DequantizedWeights(const std::string& base, const core::Tensor& q, const std::vector<float>& scales,
                                 int axis);

  static void SetAttribute(onnx::NodeProto& n, const std::string& name, const AttrValue& v);

 private:
  onnx::GraphProto* graph_;
  std::set<std::string> used_;
  std::map<std::pair<core::DataType, int32_t>, std::string> zero_points_;
};

}  // namespace q8::engine
