// Owns Program::Create: validates a ProgramSpec, then builds one Kernel per
// step in step order under the creation mutex (the expensive half: primitive
// descriptors, primitives, weight reorders). Binding and Run live in
// workspace.cc.
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/program_impl.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels {
namespace {

absl::Status ValidateValue(const ProgramSpec& spec, int id) {
  const ValueSpec& v = spec.values[id];
  auto where = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("value ", id, " ", core::DimsToString(v.dims), ": ", what));
  };
  auto desc = internal::DescOf(v);
  if (!desc.ok()) {
    return absl::Status(desc.status().code(), absl::StrCat("value ", id, ": ", desc.status().message()));
  }
  const int64_t bytes = core::NumElements(v.dims) * core::SizeOf(v.dtype);
  switch (v.storage) {
    case Storage::kArena:
      if (v.offset < 0 || v.offset % 64 != 0)
        return where(absl::StrCat("arena offset ", v.offset, " is not 64-byte aligned"));
      if (v.offset + bytes > spec.arena_bytes) {
        return where(
            absl::StrCat("bytes [", v.offset, ", ", v.offset + bytes, ") exceed the arena of ", spec.arena_bytes));
      }
      return absl::OkStatus();
    case Storage::kInput:
    case Storage::kOutput: {
      const int count = v.storage == Storage::kInput ? spec.num_inputs : spec.num_outputs;
      if (v.slot < 0 || v.slot >= count) return where(absl::StrCat("slot ", v.slot, " out of range [0, ", count, ")"));
      // Callers pass dense row-major buffers; layout changes are explicit
      // Reorder steps, except where NHWC and plain are the same bytes.
      if (v.layout != Layout::kPlain && !internal::SameBytesAsPlain(v)) {
        return where("graph inputs and outputs must be plain (or NHWC with C == 1 or H*W == 1)");
      }
      return absl::OkStatus();
    }
  }
  return where("unknown storage");
}

// Only values some step uses are checked: the planner may leave unused
// values (e.g. never-bound aliases) with placeholder storage.
absl::Status ValidateSpec(const ProgramSpec& spec) {
  if (spec.arena_bytes < 0 || spec.num_inputs < 0 || spec.num_outputs < 0) {
    return absl::InvalidArgumentError("negative arena size or input/output count");
  }
  const int num_values = static_cast<int>(spec.values.size());
  for (const StepSpec& step : spec.steps) {
    auto check = [&](int id) {
      absl::Status status = ValidateValue(spec, id);
      if (status.ok()) return status;
      return absl::Status(status.code(), absl::StrCat("step '", step.name, "' (", step.op, "): ", status.message()));
    };
    for (int id : step.inputs) {
      if (id < 0 || id >= num_values) {
        return absl::InvalidArgumentError(
            absl::StrCat("step '", step.name, "' (", step.op, "): input value id ", id, " out of range"));
      }
      Q8_RETURN_IF_ERROR(check(id));
    }
    for (int id : step.outputs) {
      if (id < 0 || id >= num_values) {
        return absl::InvalidArgumentError(
            absl::StrCat("step '", step.name, "' (", step.op, "): output value id ", id, " out of range"));
      }
      Q8_RETURN_IF_ERROR(check(id));
      if (spec.values[id].storage == Storage::kInput) {
        return absl::InvalidArgumentError(
            absl::StrCat("step '", step.name, "' (", step.op, "): writes value ", id, ", a read-only graph input"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

Program::Program(ProgramSpec spec, std::unique_ptr<Impl> impl) : spec_(std::move(spec)), impl_(std::move(impl)) {}
Program::~Program() = default;

absl::StatusOr<std::unique_ptr<Program>> Program::Create(ProgramSpec spec, WeightCache& weights) {
  Q8_RETURN_IF_ERROR(ValidateSpec(spec));
  auto impl = std::make_unique<Impl>();
  std::vector<StepInfo> infos;
  int64_t scratchpad = 0;
  {
    std::lock_guard<std::mutex> lock(internal::CreationMutex());
    for (const StepSpec& step : spec.steps) {
      internal::KernelRequest request{step, {}, {}, weights.impl()};
      for (int id : step.inputs) request.inputs.push_back(&spec.values[id]);
      for (int id : step.outputs) request.outputs.push_back(&spec.values[id]);
      Q8_ASSIGN_OR_RETURN(std::unique_ptr<internal::Kernel> kernel, internal::CreateKernel(request));
      infos.push_back(StepInfo{step.name, step.op, kernel->impl()});
      scratchpad = std::max(scratchpad, kernel->scratchpad_bytes());
      impl->kernels.push_back(std::move(kernel));
    }
  }
  std::unique_ptr<Program> program(new Program(std::move(spec), std::move(impl)));
  program->infos_ = std::move(infos);
  program->scratchpad_bytes_ = scratchpad;
  return program;
}

}  // namespace q8::kernels
