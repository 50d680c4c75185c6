// The op table. Order is alphabetical; a unit test walks it to check that
// every row has both functions and that names are unique.
#include "engine/ops/op_table.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "engine/ops/op_impls.h"

namespace q8::engine {
namespace {

using ops::InferActivation, ops::LowerActivation;
using LP = LayoutPolicy;

constexpr std::array kOps = {
    OpDef{"Add", LP::kFollowInput, ops::InferBinary, ops::LowerBinary},
    OpDef{"AveragePool", LP::kChannelsLast, ops::InferAveragePool, ops::LowerAveragePool},
    OpDef{"BatchNormalization", LP::kChannelsLast, ops::InferBatchNormalization, ops::LowerBatchNormalization},
    OpDef{"Clip", LP::kFollowInput, InferActivation, LowerActivation},
    OpDef{"Concat", LP::kFollowInput, ops::InferConcat, ops::LowerConcat},
    OpDef{"Conv", LP::kChannelsLast, ops::InferConv, ops::LowerConv},
    OpDef{"Dropout", LP::kFollowInput, ops::InferIdentity, ops::LowerIdentity},
    OpDef{"Flatten", LP::kPlain, ops::InferFlatten, ops::LowerFlatten},
    OpDef{"Gemm", LP::kPlain, ops::InferGemm, ops::LowerGemm},
    OpDef{"GlobalAveragePool", LP::kChannelsLast, ops::InferGlobalAveragePool, ops::LowerGlobalAveragePool},
    OpDef{"Identity", LP::kFollowInput, ops::InferIdentity, ops::LowerIdentity},
    OpDef{"MatMul", LP::kPlain, ops::InferMatMul, ops::LowerMatMul},
    OpDef{"MaxPool", LP::kChannelsLast, ops::InferMaxPool, ops::LowerMaxPool},
    OpDef{"Mul", LP::kFollowInput, ops::InferBinary, ops::LowerBinary},
    OpDef{"Relu", LP::kFollowInput, InferActivation, LowerActivation},
    OpDef{"Reshape", LP::kPlain, ops::InferReshape, ops::LowerReshape},
    OpDef{"Sigmoid", LP::kFollowInput, InferActivation, LowerActivation},
    OpDef{"Softmax", LP::kPlain, ops::InferSoftmax, ops::LowerSoftmax},
    OpDef{"Transpose", LP::kPlain, ops::InferTranspose, ops::LowerTranspose},
};

}  // namespace

const core::Tensor* OpContext::constant(int i) const {
  if (!has_input(i)) return nullptr;
  return graph.value(node.inputs[i]).constant.get();
}

std::shared_ptr<const core::Tensor> OpContext::shared_constant(int i) const {
  if (!has_input(i)) return nullptr;
  return graph.value(node.inputs[i]).constant;
}

absl::Status OpContext::Error(absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": ", what));
}

absl::Status OpContext::Unsupported(absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": not supported: ", what));
}

const OpDef* FindOp(absl::string_view op_type) {
  for (const OpDef& def : kOps) {
    if (op_type == def.op_type) return &def;
  }
  return nullptr;
}

std::vector<std::string> SupportedOps() {
  std::vector<std::string> names;
  for (const OpDef& def : kOps) names.push_back(def.op_type);
  return names;
}

}  // namespace q8::engine
