// Private state of Program and Workspace, shared by program.cc (creation) and
// workspace.cc (binding and Run). dnnl-visible; never included by engine/.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "kernels/internal/dnnl_kernel.h"
#include "kernels/program.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace q8::kernels {

struct Program::Impl {
  std::vector<std::unique_ptr<internal::Kernel>> kernels;  // one per step, same order
};

struct Workspace::Impl {
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  using Buffer = std::unique_ptr<void, FreeDeleter>;

  const Program* program = nullptr;  // Run rejects a workspace of another Program
  Buffer arena;
  Buffer scratchpad;
  int64_t arena_bytes = 0;
  int64_t scratchpad_bytes = 0;
  dnnl::stream stream;
  std::vector<internal::BoundArgs> args;  // per step, built once
  // Memories whose handle is the caller's buffer of that slot, set per Run.
  std::vector<std::vector<dnnl::memory>> input_bindings;
  std::vector<std::vector<dnnl::memory>> output_bindings;
  // Per slot: its bytes, and a 64-byte aligned stand-in (made with the
  // workspace) that Run uses when the caller's buffer is not 64-byte
  // aligned: oneDNN's jit kernels may store with non-temporal moves, which
  // fault on unaligned addresses (see Program::Run).
  std::vector<int64_t> input_bytes, output_bytes;
  std::vector<Buffer> input_staging, output_staging;
};

}  // namespace q8::kernels
