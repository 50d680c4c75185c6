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
  bool all_read_declared = true, all_read_f32 = true;
  for (const EdgeConsumer& c : consumers) {
    const OpSignature* sig = FindSignature(c.op_type);
    // A slot reads at runtime only what its signature admits at all.
    const int slot = std::min(c.slot, 2);
    const TypeMask reads = sig == nullptr ? kF32 : sig->runtime_types[slot] & sig->input_types[slot];
    all_read_declared &= (reads & TypeBit(*declared)) != 0;
    all_read_f32 &= (reads & kF32) != 0;
  }
  if (all_read_declared) return *declared;
  // A slot that reads neither (a runtime INT64 shape into Reshape) keeps the
  // declared type, so the op's own check names what it cannot do.
  return all_read_f32 ? core::DataType::kFloat32 : *declared;
}

}  // namespace q8::engine
