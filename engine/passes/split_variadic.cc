// split_variadic: Max / Min / Sum / Mean with other than two inputs become
// chains of two-input nodes (Sum -> Add; Mean -> Add chain then Mul by 1/n),
// which is what the binary kernel runs; a single input becomes a pass-through.
// Two-input Max/Min/Sum stay as they are (lowered like Add).
#include "absl/strings/str_cat.h"
#include "engine/passes/pass.h"

namespace q8::engine {
namespace {

class SplitVariadicPass : public Pass {
 public:
  const char* name() const override { return "split_variadic"; }

  absl::StatusOr<int> Run(Graph& g, const PassContext&) const override {
    int changed = 0;
    const size_t count = g.nodes().size();
    for (size_t i = 0; i < count; ++i) {
      const std::string op = g.nodes()[i].op_type;
      if (g.nodes()[i].removed || (op != "Max" && op != "Min" && op != "Sum" && op != "Mean")) continue;
      const std::vector<ValueId> ins = g.nodes()[i].inputs;
      if (ins.empty() || (ins.size() == 2 && op != "Mean")) continue;
      const std::string base = g.nodes()[i].name;
      if (ins.size() == 1) {
        g.nodes()[i].op_type = "Identity";
        ++changed;
        continue;
      }
      const std::string step = op == "Max" || op == "Min" ? op : "Add";
      // Fold inputs left to right; the original node computes the last step.
      ValueId acc = ins[0];
      const size_t chained = op == "Mean" ? ins.size() : ins.size() - 1;
      for (size_t k = 1; k < chained; ++k) {
        const std::string name = absl::StrCat(base, "/split", k);
        const ValueId v = g.AddValue(Value{name});
        Node n;
        n.name = name;
        n.op_type = step;
        n.inputs = {acc, ins[k]};
        n.outputs = {v};
        g.AddNode(std::move(n));
        acc = v;
      }
      Node& last = g.nodes()[i];
      if (op == "Mean") {
        auto scale = std::make_shared<core::Tensor>(core::DataType::kFloat32, core::Dims{});
        scale->span<float>()[0] = 1.0f / static_cast<float>(ins.size());
        last.op_type = "Mul";
        last.inputs = {acc, g.AddConstant(absl::StrCat(base, "/inv_count"), std::move(scale))};
      } else {
        last.op_type = step;
        last.inputs = {acc, ins.back()};
      }
      ++changed;
    }
    if (changed > 0) {
      absl::Status sorted = g.SortTopologically();
      if (!sorted.ok()) return sorted;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeSplitVariadicPass() { return std::make_unique<SplitVariadicPass>(); }

}  // namespace q8::engine
