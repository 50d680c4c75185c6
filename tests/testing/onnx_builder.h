// OnnxBuilder: builds small ONNX models in tests (ModelProto bytes) with
// seeded random initializers, so engine and server tests can exercise exact
// graph shapes without shipping files. Test-only.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"

namespace q8::testing {

class OnnxBuilder {
 public:
  explicit OnnxBuilder(int64_t opset = 13, uint32_t seed = 42);

  // Float graph input; use -1 for a dynamic (batch) dimension, {} for a scalar.
  OnnxBuilder& Input(const std::string& name, const std::vector<int64_t>& dims);
  OnnxBuilder& Output(const std::string& name);
  // Float initializer with uniform random values in [lo, hi].
  OnnxBuilder& RandomInitializer(const std::string& name, const std::vector<int64_t>& dims, float lo = -1,
                                 float hi = 1);
  OnnxBuilder& FloatInitializer(const std::string& name, const std::vector<int64_t>& dims,
                                const std::vector<float>& values);
  OnnxBuilder& Int64Initializer(const std::string& name, const std::vector<int64_t>& dims,
                                const std::vector<int64_t>& values);

  // Adds a node; returns it so attributes can be added with the helpers below.
  onnx::NodeProto& Node(const std::string& op_type, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name = "");

  static void AttrInt(onnx::NodeProto& n, const std::string& name, int64_t v);
  static void AttrFloat(onnx::NodeProto& n, const std::string& name, float v);
  static void AttrInts(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v);
  static void AttrString(onnx::NodeProto& n, const std::string& name, const std::string& v);

  onnx::ModelProto& model() { return model_; }
  std::string Serialize() const;

 private:
  onnx::ModelProto model_;
  std::mt19937 rng_;
  int node_count_ = 0;
};

}  // namespace q8::testing
