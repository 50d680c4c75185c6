// Owns StagedKernel (see kernels/internal/staged_kernel.h): per-Run staging
// of request-sent operands into scratchpad buffers sized at build time.
#include "kernels/internal/staged_kernel.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {
namespace {

constexpr int64_t kAlign = 64;
int64_t AlignUp(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

StagedKernel::StagedKernel(dnnl::primitive primitive, const dnnl::primitive_desc_base& pd, std::vector<Operand> inputs,
                           std::vector<Operand> outputs, ArgMap constants)
    : Kernel(primitive, pd, std::move(inputs), std::move(outputs), std::move(constants)),
      primitive_(std::move(primitive)),
      primitive_scratchpad_(pd.scratchpad_desc()) {}

void StagedKernel::AddRuntimeWeights(const dnnl::memory::desc& user, const dnnl::memory::desc& wanted,
                                     std::vector<Operand>& inputs, std::vector<Stage>& stages) {
  if (wanted == user) {
    inputs.push_back({DNNL_ARG_WEIGHTS, user});
    return;
  }
  stages.push_back({static_cast<int>(inputs.size()), DNNL_ARG_WEIGHTS, wanted, nullptr});
  inputs.push_back({kArgNone, user});
}

absl::StatusOr<std::unique_ptr<Kernel>> StagedKernel::Make(dnnl::primitive primitive,
                                                           const dnnl::primitive_desc_base& pd,
                                                           std::vector<Operand> inputs, std::vector<Operand> outputs,
                                                           ArgMap constants, std::vector<Stage> stages) {
  if (stages.empty()) {
    return std::make_unique<Kernel>(std::move(primitive), pd, std::move(inputs), std::move(outputs),
                                    std::move(constants));
  }
  std::unique_ptr<StagedKernel> k(
      new StagedKernel(std::move(primitive), pd, std::move(inputs), std::move(outputs), std::move(constants)));
  // The reorders run before the primitive, one after another: they all
  // share the front of the scratchpad with the primitive's own part.
  int64_t front = static_cast<int64_t>(k->primitive_scratchpad_.get_size());
  std::string impl = k->impl();
  for (Stage& s : stages) {
    if (s.input < 0 || s.input >= static_cast<int>(k->inputs().size())) {
      return absl::InternalError(absl::StrCat("staged operand ", s.input, " is not an input of the step"));
    }
    Placed p;
    if (s.transform == nullptr) {
      dnnl::reorder::primitive_desc rpd(CpuEngine(), k->inputs()[s.input].desc, CpuEngine(), s.target, MakeAttr());
      p.reorder = dnnl::reorder(rpd);
      p.reorder_scratchpad = rpd.scratchpad_desc();
      front = std::max<int64_t>(front, static_cast<int64_t>(rpd.scratchpad_desc().get_size()));
      absl::StrAppend(&impl, "+staged_reorder:", rpd.impl_info_str());
    }
    p.stage = std::move(s);
    k->stages_.push_back(std::move(p));
  }
  int64_t used = AlignUp(front);
  for (Placed& p : k->stages_) {
    p.offset = used;
    used += AlignUp(static_cast<int64_t>(p.stage.target.get_size()));
  }
  k->set_scratchpad_desc(PlainDesc({std::max<int64_t>(used, 1)}, dnnl::memory::data_type::u8));
  k->set_impl(std::move(impl));
  return std::unique_ptr<Kernel>(std::move(k));
}

// extra = {src, staged} per stage; c_args: the primitive's; c_args_alt: the
// reorders' arguments, stage after stage.
BoundArgs StagedKernel::Bind(absl::Span<const dnnl::memory> inputs, absl::Span<const dnnl::memory> outputs,
                             const dnnl::memory& scratchpad) const {
  BoundArgs bound = Kernel::Bind(inputs, outputs, scratchpad);
  char* base = static_cast<char*>(scratchpad.get_data_handle());
  bound.memories.erase(DNNL_ARG_SCRATCHPAD);
  if (primitive_scratchpad_.get_size() > 0) {
    bound.memories[DNNL_ARG_SCRATCHPAD] = dnnl::memory(primitive_scratchpad_, CpuEngine(), base);
  }
  for (const Placed& p : stages_) {
    dnnl::memory staged(p.stage.target, CpuEngine(), base + p.offset);
    bound.memories[p.stage.arg] = staged;
    bound.extra.push_back(inputs[p.stage.input]);
    bound.extra.push_back(staged);
    if (p.stage.transform != nullptr) continue;
    ArgMap args{{DNNL_ARG_SRC, inputs[p.stage.input]}, {DNNL_ARG_DST, staged}};
    if (p.reorder_scratchpad.get_size() > 0) {
      args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(p.reorder_scratchpad, CpuEngine(), base);
    }
    for (const auto& [arg, memory] : args) {
      bound.c_args_alt.push_back({arg, memory.get()});
      bound.extra.push_back(memory);
    }
  }
  bound.c_args.clear();
  for (const auto& [arg, memory] : bound.memories) bound.c_args.push_back({arg, memory.get()});
  return bound;
}

void StagedKernel::Execute(dnnl::stream& stream, const BoundArgs& args) const {
  size_t next_arg = 0, next_extra = 0;
  for (const Placed& p : stages_) {
    const dnnl::memory& src = args.extra[next_extra];
    const dnnl::memory& staged = args.extra[next_extra + 1];
    next_extra += 2;
    if (p.stage.transform != nullptr) {
      p.stage.transform(src.get_data_handle(), staged.get_data_handle());
      continue;
    }
    const size_t n = p.reorder_scratchpad.get_size() > 0 ? 3 : 2;
    next_extra += n;
    dnnl::error::wrap_c_api(
        dnnl_primitive_execute(p.reorder.get(), stream.get(), static_cast<int>(n), args.c_args_alt.data() + next_arg),
        "could not stage a runtime operand");
    next_arg += n;
  }
  ExecuteC(primitive_, stream, args.c_args);
}

}  // namespace q8::kernels::internal
