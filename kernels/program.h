// A Program is a compiled, immutable list of kernel steps over numbered value
// slots, built once per (model, batch size). It is the only way engine/ runs
// oneDNN. Expensive work (primitive creation, weight reorders, workspace
// binding) happens in Create / NewWorkspace; Run only executes primitives.
//
// Thread safety: a Program is immutable after Create and may be Run from many
// threads at once, each with its own Workspace (scratchpads are per
// workspace, oneDNN runs in scratchpad_mode::user). A Workspace is used by one
// Run at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "kernels/kernel_params.h"

namespace q8::kernels {

class WeightCache;

// Physical layout of a value. kNhwc applies to 4-D values only: their dims
// stay logical NCHW, the bytes are stored N,H,W,C.
enum class Layout : uint8_t { kPlain, kNhwc };

// Where a value's bytes live.
enum class Storage : uint8_t {
  kArena,   // at `offset` inside the workspace arena
  kInput,   // the caller's input buffer number `slot`, bound per Run
  kOutput,  // the caller's output buffer number `slot`, bound per Run
};

struct ValueSpec {
  core::DataType dtype = core::DataType::kFloat32;  // f32, bf16, u8 or s8
  float scale = 1.0f;                               // u8/s8 only: real value = scale * (q - zero_point)
  core::Dims dims;                                  // static, logical (ONNX) order
  Layout layout = Layout::kPlain;
  Storage storage = Storage::kArena;
  int64_t offset = 0;  // bytes, kArena only; 64-byte aligned
  int slot = 0;        // kInput / kOutput only
  // Several ValueSpecs may share storage (same offset or slot): that is how
  // Reshape/Flatten become free aliases.
  // u8 only, in [0, 255]: an asymmetric activation (engine/quant/quant_spec.h).
  // Only MatMul (input 0 and output), Reorder and Transpose accept a non-zero
  // one. Last, so positional initializers of the fields above stay valid.
  int32_t zero_point = 0;
};

struct StepSpec {
  std::string name;  // ONNX node name, for messages and reports
  std::string op;    // ONNX op type (or "Reorder" for inserted layout changes)
  KernelParams params;
  std::vector<int> inputs;   // value ids
  std::vector<int> outputs;  // value ids
};

// What was built for one step (for reports and the "no ref kernel" check).
struct StepInfo {
  std::string name;
  std::string op;
  std::string impl;  // oneDNN impl_info_str(), e.g. "brgconv:avx512_core"
};

struct ProgramSpec {
  std::vector<ValueSpec> values;
  std::vector<StepSpec> steps;
  int64_t arena_bytes = 0;
  int num_inputs = 0;
  int num_outputs = 0;
};

// Per-caller execution state of one Program: arena, scratchpad, stream and
// argument maps bound to them, made by Program::NewWorkspace. Used by one Run
// at a time. Defined here (not only forward-declared) so that callers can own
// and destroy it through std::unique_ptr; its contents stay private (pimpl).
class Workspace {
 public:
  ~Workspace();
  int64_t arena_bytes() const;
  int64_t scratchpad_bytes() const;

  struct Impl;

 private:
  friend class Program;
  explicit Workspace(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Program {
 public:
  // Builds every primitive and reorders weights into the layouts the chosen
  // implementations want (shared through `weights`, which must outlive the
  // Program). Errors: INVALID_ARGUMENT for params/shape combinations oneDNN
  // rejects, UNIMPLEMENTED when no implementation exists on this CPU.
  static absl::StatusOr<std::unique_ptr<Program>> Create(ProgramSpec spec, WeightCache& weights);
  virtual ~Program();

  const std::vector<StepInfo>& steps() const { return infos_; }
  int64_t arena_bytes() const { return spec_.arena_bytes; }
  // Largest scratchpad any step needs; one per workspace.
  int64_t scratchpad_bytes() const { return scratchpad_bytes_; }

  // Allocates an arena + scratchpad and binds every step's arguments to them.
  absl::StatusOr<std::unique_ptr<Workspace>> NewWorkspace() const;

  // Executes all steps. inputs/outputs are dense row-major buffers matching
  // the kInput/kOutput ValueSpecs by slot, of any alignment: oneDNN sees
  // only 64-byte aligned memory, so an unaligned one is copied through an
  // aligned stand-in that the workspace holds from its creation. No
  // allocation by q8serve code.
  absl::Status Run(Workspace& ws, absl::Span<const void* const> inputs, absl::Span<void* const> outputs) const;

 private:
  struct Impl;
  Program(ProgramSpec spec, std::unique_ptr<Impl> impl);
  ProgramSpec spec_;
  std::vector<StepInfo> infos_;
  int64_t scratchpad_bytes_ = 0;
  std::unique_ptr<Impl> impl_;
};

// Holds weights reordered into oneDNN's preferred layouts, shared by all the
// Programs of one model, so a model pays for its weights once whatever the
// number of batch sizes it has plans for. Thread-safe.
class WeightCache {
 public:
  WeightCache();
  ~WeightCache();
  WeightCache(const WeightCache&) = delete;
  WeightCache& operator=(const WeightCache&) = delete;

  // Bytes held by reordered weights and biases (the model's resident weights),
  // including s8s8 compensation appended to int8 weights.
  int64_t bytes() const;
  // The part of bytes() held in `dtype` (e.g. kInt8 weights vs kFloat32 biases).
  int64_t bytes(core::DataType dtype) const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Facts about the oneDNN runtime, for reports and metrics.
std::string CpuIsa();       // e.g. "avx512_core_vnni", "avx512_core_amx"
std::string DnnlVersion();  // e.g. "2.6.3"
// True when oneDNN runs bf16 convolution and matmul natively here
// (AVX512-BF16 or AMX-BF16), under any ONEDNN_MAX_CPU_ISA cap. Without it
// oneDNN 2.6 would emulate bf16 on plain AVX-512 at no gain over f32, so the
// precision ladder skips the bf16 rung (engine/plan/precision.h).
bool HasBf16Compute();

}  // namespace q8::kernels
