// The one table behind dtype.h; a static_assert keeps it in step with the enum.
#include "core/dtype.h"

#include <array>

namespace q8::core {
namespace {

struct Info {
  DataType type;
  int64_t size;
  absl::string_view oip;
  int onnx;  // onnx.TensorProto.DataType
};

constexpr std::array<Info, static_cast<size_t>(DataType::kCount)> kTable = {{
    {DataType::kUndefined, 0, "", 0},
    {DataType::kBool, 1, "BOOL", 9},
    {DataType::kUInt8, 1, "UINT8", 2},
    {DataType::kUInt16, 2, "UINT16", 4},
    {DataType::kUInt32, 4, "UINT32", 12},
    {DataType::kUInt64, 8, "UINT64", 13},
    {DataType::kInt8, 1, "INT8", 3},
    {DataType::kInt16, 2, "INT16", 5},
    {DataType::kInt32, 4, "INT32", 6},
    {DataType::kInt64, 8, "INT64", 7},
    {DataType::kFloat16, 2, "FP16", 10},
    {DataType::kFloat32, 4, "FP32", 1},
    {DataType::kFloat64, 8, "FP64", 11},
    {DataType::kBFloat16, 2, "BF16", 16},
}};

constexpr bool TableInEnumOrder() {
  for (size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<size_t>(kTable[i].type) != i) return false;
  }
  return true;
}
static_assert(TableInEnumOrder(), "kTable must list DataType values in order");

const Info& Lookup(DataType t) {
  auto i = static_cast<size_t>(t);
  return kTable[i < kTable.size() ? i : 0];
}

}  // namespace

int64_t SizeOf(DataType t) { return Lookup(t).size; }
absl::string_view OipName(DataType t) { return Lookup(t).oip; }
int OnnxCode(DataType t) { return Lookup(t).onnx; }

std::optional<DataType> FromOipName(absl::string_view name) {
  for (const Info& info : kTable) {
    if (!info.oip.empty() && info.oip == name) return info.type;
  }
  return std::nullopt;
}

std::optional<DataType> FromOnnxCode(int code) {
  for (const Info& info : kTable) {
    if (info.onnx != 0 && info.onnx == code) return info.type;
  }
  return std::nullopt;
}

}  // namespace q8::core
