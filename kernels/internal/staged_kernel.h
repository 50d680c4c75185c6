// StagedKernel: a primitive some of whose operands a request sends (runtime
// conv / deconv weights, InstanceNormalization's scale and B) in another form
// than the one the primitive reads. Before the primitive runs, each such
// operand is staged, per Run, into a buffer of the workspace scratchpad: by a
// oneDNN reorder (runtime weights into the blocked layout the implementation
// chose) or by a plain C++ transform (a per-channel vector repeated per
// batch entry). The buffers are placed after the primitive's own scratchpad
// when the step is built, so a Run allocates nothing; the values' dims are
// fixed by the plan (plans are keyed by every input's shape), so a staged
// copy never reads or writes past what was sized here. dnnl-visible.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/internal/dnnl_kernel.h"

namespace q8::kernels::internal {

class StagedKernel final : public Kernel {
 public:
  // Reads the input's bytes and writes `target.get_size()` bytes.
  using Transform = std::function<void(const void* src, void* dst)>;
  struct Stage {
    int input = 0;  // index into the step's inputs; its Operand should have arg kArgNone
    int arg = 0;    // DNNL_ARG_* the staged copy is passed to the primitive as
    dnnl::memory::desc target;
    Transform transform;  // null: a oneDNN reorder from the input's desc into `target`
  };

  // Builds the reorders (user scratchpad) and lays out the scratchpad; with
  // no stages, a plain Kernel (so callers need not choose).
  static absl::StatusOr<std::unique_ptr<Kernel>> Make(dnnl::primitive primitive, const dnnl::primitive_desc_base& pd,
                                                      std::vector<Operand> inputs, std::vector<Operand> outputs,
                                                      ArgMap constants, std::vector<Stage> stages);

  // Appends a request's weights as the next input: passed as they come when
  // the implementation reads `user` (plain weights), else staged by a
  // reorder into `wanted`, the layout it chose.
  static void AddRuntimeWeights(const dnnl::memory::desc& user, const dnnl::memory::desc& wanted,
                                std::vector<Operand>& inputs, std::vector<Stage>& stages);

  BoundArgs Bind(absl::Span<const dnnl::memory> inputs, absl::Span<const dnnl::memory> outputs,
                 const dnnl::memory& scratchpad) const override;
  void Execute(dnnl::stream& stream, const BoundArgs& args) const override;

 private:
  struct Placed {
    Stage stage;
    dnnl::primitive reorder;  // when stage.transform is null
    dnnl::memory::desc reorder_scratchpad;
    int64_t offset = 0;  // of the staged copy in the scratchpad
  };
  StagedKernel(dnnl::primitive primitive, const dnnl::primitive_desc_base& pd, std::vector<Operand> inputs,
               std::vector<Operand> outputs, ArgMap constants);

  dnnl::primitive primitive_;
  dnnl::memory::desc primitive_scratchpad_;
  std::vector<Placed> stages_;
};

}  // namespace q8::kernels::internal
