// Element data types shared by every layer, with the Open Inference Protocol
// names ("FP32", "INT64", ...) and ONNX TensorProto codes kept in one table.
#pragma once

#include <cstdint>
#include <optional>
#include "absl/strings/string_view.h"

namespace q8::core {

enum class DataType : uint8_t {
  kUndefined = 0,
  kBool,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFloat16,
  kFloat32,
  kFloat64,
  kBFloat16,
  kCount,  // number of entries; keep last
};

// Bytes per element (0 for kUndefined).
int64_t SizeOf(DataType t);
// Open Inference Protocol datatype string, e.g. "FP32".
absl::string_view OipName(DataType t);
// Inverse of OipName; nullopt for unknown strings (including "BYTES").
std::optional<DataType> FromOipName(absl::string_view name);
// ONNX TensorProto::DataType code, and its inverse (nullopt if not mapped).
int OnnxCode(DataType t);
std::optional<DataType> FromOnnxCode(int code);

}  // namespace q8::core
