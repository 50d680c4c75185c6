// ResourceLimits: the bounds one q8serve process puts on what clients can make
// it hold or start (memory, threads, queued work), each a flag in main.cc with
// the default below and documented in server/README.md ("Resource limits").
// Every refusal names the flag and its value, so an operator reading a client's
// error knows which knob to turn.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace q8::server {

struct ResourceLimits {
  // Largest ModelInfer request (serialized protobuf bytes); larger ones get
  // RESOURCE_EXHAUSTED before the model is looked up or a tensor decoded.
  // Separate from --max_upload_bytes, which only uploads need.
  int64_t max_request_bytes = int64_t{64} << 20;
  // Uploads/quantizations (RepositoryModelLoad, ModelService.Upload) running
  // at once; one more gets RESOURCE_EXHAUSTED ("retry later") before its
  // files are received, so uploads hold at most this many x max_upload_bytes.
  int max_concurrent_loads = 2;
  // Requests one model version may have waiting for an execution stream
  // (config.json "execution.max_queue_size" overrides it per model); one
  // more gets RESOURCE_EXHAUSTED so clients back off.
  int64_t max_queue_size = 512;
  // Threads one model version may start (streams x threads_per_stream), as a
  // multiple of the CPU budget; larger layouts are clamped (and logged).
  int max_threads_per_cpu = 4;
  // Total measured memory of loaded models (compiled model + fp32 reference,
  // after warm-up, as q8serve_model_memory_bytes{kind="total"} reports). A
  // load that would exceed it is refused with RESOURCE_EXHAUSTED. 0: no
  // limit; -1: 3/4 of the memory the process may use (DefaultMemoryBudget).
  int64_t max_model_memory_bytes = -1;
  // Largest single tensor (initializer, graph input or output, activation,
  // request tensor, .npy array) in bytes; larger ones are refused with
  // INVALID_ARGUMENT before anything is allocated (core::SetMaxTensorBytes).
  int64_t max_tensor_bytes = int64_t{1} << 30;
};

// INVALID_ARGUMENT naming the flag of the first value out of range.
absl::Status ValidateResourceLimits(const ResourceLimits& limits);

// Streams x threads_per_stream ceiling for one model version.
inline int64_t MaxThreadsPerModel(const ResourceLimits& limits, int cpus) {
  return int64_t{limits.max_threads_per_cpu} * (cpus < 1 ? 1 : cpus);
}

// 3/4 of the smaller of physical memory and the cgroup memory limit (v2
// memory.max, v1 memory.limit_in_bytes). `cgroup_root` is for tests.
int64_t DefaultMemoryBudget(const char* cgroup_root = "/sys/fs/cgroup");

// max_model_memory_bytes with -1 resolved; 0 = unlimited.
int64_t ResolveMemoryBudget(int64_t flag_value);

}  // namespace q8::server
