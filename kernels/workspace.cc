// Owns Workspace allocation and Program::Run. NewWorkspace does all the
// per-workspace work once (arena, scratchpad, stream, one dnnl::memory per
// step operand, argument arrays); Run only swaps the caller's buffer handles
// in (or aligned stand-ins, see Run) and executes the steps in order.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/program_impl.h"

namespace q8::kernels {
namespace {

Workspace::Impl::Buffer AllocateAligned(int64_t bytes) {
  if (bytes <= 0) return nullptr;
  // 64-byte alignment (cache line, AVX-512 vector); aligned_alloc wants a multiple of it.
  const size_t rounded = static_cast<size_t>((bytes + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, rounded);
  if (p == nullptr) throw std::bad_alloc();
  return Workspace::Impl::Buffer(p);
}

// The alignment of every buffer oneDNN sees: the arena's and its offsets,
// the scratchpad's, and what Run passes for caller buffers.
constexpr uintptr_t kAlignment = 64;

bool Aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kAlignment == 0; }

// The buffer kernels use for a caller's slot buffer `p` of `bytes`: `p`
// itself when aligned (or empty), else the slot's stand-in.
void* Bindable(void* p, int64_t bytes, const Workspace::Impl::Buffer& staging) {
  if (Aligned(p) || bytes <= 0) return p;
  return staging.get();
}

}  // namespace

Workspace::Workspace(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Workspace::~Workspace() = default;
int64_t Workspace::arena_bytes() const { return impl_->arena_bytes; }
int64_t Workspace::scratchpad_bytes() const { return impl_->scratchpad_bytes; }

absl::StatusOr<std::unique_ptr<Workspace>> Program::NewWorkspace() const {
  auto ws = std::make_unique<Workspace::Impl>();
  try {
    const dnnl::engine& engine = internal::CpuEngine();
    ws->program = this;
    ws->arena_bytes = spec_.arena_bytes;
    ws->scratchpad_bytes = scratchpad_bytes_;
    ws->arena = AllocateAligned(spec_.arena_bytes);
    ws->scratchpad = AllocateAligned(scratchpad_bytes_);
    ws->stream = dnnl::stream(engine);
    ws->input_bindings.resize(spec_.num_inputs);
    ws->output_bindings.resize(spec_.num_outputs);
    ws->input_bytes.assign(spec_.num_inputs, 0);
    ws->output_bytes.assign(spec_.num_outputs, 0);
    ws->input_staging.resize(spec_.num_inputs);
    ws->output_staging.resize(spec_.num_outputs);

    // Caller buffers are unknown until Run: those memories start without a
    // handle (DNNL_MEMORY_NONE) and are remembered per slot.
    auto make = [&](int id, const dnnl::memory::desc& desc) {
      const ValueSpec& v = spec_.values[id];
      void* handle = v.storage == Storage::kArena ? static_cast<char*>(ws->arena.get()) + v.offset : DNNL_MEMORY_NONE;
      dnnl::memory memory(desc, engine, handle);
      const int64_t bytes = core::NumElements(v.dims) * core::SizeOf(v.dtype);
      if (v.storage == Storage::kInput) {
        ws->input_bindings[v.slot].push_back(memory);
        ws->input_bytes[v.slot] = std::max(ws->input_bytes[v.slot], bytes);
      }
      if (v.storage == Storage::kOutput) {
        ws->output_bindings[v.slot].push_back(memory);
        ws->output_bytes[v.slot] = std::max(ws->output_bytes[v.slot], bytes);
      }
      return memory;
    };
    for (size_t s = 0; s < spec_.steps.size(); ++s) {
      const StepSpec& step = spec_.steps[s];
      const internal::Kernel& kernel = *impl_->kernels[s];
      std::vector<dnnl::memory> ins, outs;
      for (size_t i = 0; i < step.inputs.size(); ++i) ins.push_back(make(step.inputs[i], kernel.inputs()[i].desc));
      for (size_t i = 0; i < step.outputs.size(); ++i) outs.push_back(make(step.outputs[i], kernel.outputs()[i].desc));
      // Steps run one after another, so they all share the one scratchpad,
      // each seeing it under its own desc.
      dnnl::memory scratchpad;
      if (kernel.scratchpad_bytes() > 0)
        scratchpad = dnnl::memory(kernel.scratchpad_desc(), engine, ws->scratchpad.get());
      ws->args.push_back(kernel.Bind(ins, outs, scratchpad));
    }
    // The stand-ins for unaligned caller buffers (see Run) are made with the
    // workspace, not on first need: a served request's buffers are protobuf
    // strings, 64-byte aligned only by chance, so allocating lazily would
    // leave an allocation on the request path whenever chance first fails.
    for (size_t i = 0; i < ws->input_bytes.size(); ++i) {
      if (ws->input_bytes[i] > 0) ws->input_staging[i] = AllocateAligned(ws->input_bytes[i]);
    }
    for (size_t i = 0; i < ws->output_bytes.size(); ++i) {
      if (ws->output_bytes[i] > 0) ws->output_staging[i] = AllocateAligned(ws->output_bytes[i]);
    }
  } catch (const dnnl::error& e) {
    return internal::ErrorToStatus(e, "binding a workspace");
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a workspace of ", spec_.arena_bytes, " arena + ",
                                                     scratchpad_bytes_,
                                                     " scratchpad bytes and aligned copies of its inputs and outputs"));
  }
  return std::unique_ptr<Workspace>(new Workspace(std::move(ws)));
}

absl::Status Program::Run(Workspace& workspace, absl::Span<const void* const> inputs,
                          absl::Span<void* const> outputs) const {
  Workspace::Impl& ws = *workspace.impl_;
  if (ws.program != this) return absl::InvalidArgumentError("workspace belongs to another Program");
  if (static_cast<int>(inputs.size()) != spec_.num_inputs || static_cast<int>(outputs.size()) != spec_.num_outputs) {
    return absl::InvalidArgumentError(absl::StrCat("expected ", spec_.num_inputs, " inputs and ", spec_.num_outputs,
                                                   " outputs, got ", inputs.size(), " and ", outputs.size()));
  }
  if (std::find(inputs.begin(), inputs.end(), nullptr) != inputs.end() ||
      std::find(outputs.begin(), outputs.end(), nullptr) != outputs.end()) {
    return absl::InvalidArgumentError("null input or output buffer");
  }
  // Callers' buffers may have any alignment (the server's are protobuf
  // strings: malloc aligns to 16 bytes). oneDNN assumes more without saying
  // so: e.g. its jit resampling writes large outputs with vmovntps, which
  // raises #GP (SIGSEGV) on an address that is not 64-byte aligned. So an
  // unaligned caller buffer is copied to (input) or from (output) an aligned
  // stand-in; aligned ones (core::Tensor's, the executor's batches) are used
  // in place.
  size_t step = 0;
  try {
    for (size_t slot = 0; slot < inputs.size(); ++slot) {
      // Steps never write kInput values (checked in Create), so const_cast is safe.
      void* caller = const_cast<void*>(inputs[slot]);
      void* bound = Bindable(caller, ws.input_bytes[slot], ws.input_staging[slot]);
      if (bound != caller) std::memcpy(bound, caller, static_cast<size_t>(ws.input_bytes[slot]));
      for (const dnnl::memory& m : ws.input_bindings[slot]) m.set_data_handle(bound);
    }
    for (size_t slot = 0; slot < outputs.size(); ++slot) {
      void* bound = Bindable(outputs[slot], ws.output_bytes[slot], ws.output_staging[slot]);
      for (const dnnl::memory& m : ws.output_bindings[slot]) m.set_data_handle(bound);
    }
    for (; step < impl_->kernels.size(); ++step) impl_->kernels[step]->Execute(ws.stream, ws.args[step]);
    ws.stream.wait();
    for (size_t slot = 0; slot < outputs.size(); ++slot) {
      if (!Aligned(outputs[slot]) && ws.output_bytes[slot] > 0) {
        std::memcpy(outputs[slot], ws.output_staging[slot].get(), static_cast<size_t>(ws.output_bytes[slot]));
      }
    }
  } catch (const dnnl::error& e) {
    const std::string context = step < spec_.steps.size() ? absl::StrCat("running step '", spec_.steps[step].name,
                                                                         "' (", spec_.steps[step].op, ")")
                                                          : std::string("binding run buffers");
    return internal::ErrorToStatus(e, context);
  } catch (const internal::RequestValueError& e) {
    ws.stream.wait();
    return absl::InvalidArgumentError(
        absl::StrCat("step '", spec_.steps[step].name, "' (", spec_.steps[step].op, "): ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace q8::kernels
