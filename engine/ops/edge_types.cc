// Runtime element types of graph inputs; see edge_types.h.
#include "engine/ops/edge_types.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/ops/op_table.h"

namespace q8::engine {

absl::StatusOr<core::DataType> RuntimeInputType(int onnx_elem_type, const std::vector<EdgeConsumer>& consumers,
                                                const std::string& what) {
  const std::optional<core::DataType> declared = core::FromOnnxCode(onnx_elem_type);
  if (!declared) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, "; q8serve serves numeric tensors (FP32, FP16, BF16, FP64, INT8/16/32/64, UINT8/16/32/64, BOOL)"));
  }
  if (*declared == core::DataType::kFloat32 || consumers.empty()) return core::DataType::kFloat32;
  for (const EdgeConsumer& c : consumers) {
    const OpSignature* sig = FindSignature(c.op_type);
    if (sig == nullptr) continue;  // an unsupported op: reported by name later
    const int slot = std::min(c.slot, 2);
    const bool reads_f32 = (sig->input_types[slot] & kF32) != 0 ||
                           (sig->runtime_types[slot] & sig->input_types[slot] & TypeBit(*declared)) != 0;
    // A slot that reads neither (a runtime INT64 shape into Reshape) keeps the
    // declared type, so the op's own check names what it cannot do.
    if (!reads_f32) return *declared;
  }
  return core::DataType::kFloat32;
}

}  // namespace q8::engine
