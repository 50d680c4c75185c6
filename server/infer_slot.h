// InferSlot and InferPool: everything one ModelInfer uses, recycled.
//
// A slot holds a call's request and response messages, its InferScratch
// (decoded views, output encoder, handle), the InferCall itself and, for a
// call that came over gRPC, its ServerContext and response writer
// (server/infer_queues.h). The slot goes back to the pool when the call is
// over. A recycled message was Clear()ed, which keeps its strings' and
// repeated fields' storage, so parsing the next request into it and building
// the next response (raw_output_contents sized in place) allocate nothing
// when the shapes repeat. Protobuf arenas would not give that: an arena
// message's strings still allocate their bytes on the heap, per call.
//
// Bounded memory: a slot whose messages ever held more than
// kMaxPooledMessageBytes is freed instead of pooled (a 64 MiB request does
// not stay resident), and at most kMaxFreeSlots wait in the pool.
//
// Thread safety: Allocate and Release may run on any threads; one call uses
// a slot at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/async_unary_call.h"
#include "inference.pb.h"
#include "server/infer_call.h"

namespace q8::server {

class InferPool;

class InferSlot final {
 public:
  explicit InferSlot(InferPool* pool) : pool_(pool) {}
  InferSlot(const InferSlot&) = delete;
  InferSlot& operator=(const InferSlot&) = delete;

  inference::ModelInferRequest* request() { return &request_; }
  inference::ModelInferResponse* response() { return &response_; }

  // Starts the call on this slot's messages; `finish` is called once, on the
  // thread that completed it (see InferCall; `may_run_inline`: see
  // ModelExecutor::Submit).
  void Start(ModelRegistry* registry, ServingState* state, int64_t max_request_bytes,
             std::chrono::system_clock::time_point deadline, InferCall::Finish finish, bool may_run_inline = true);
  // The call is over (its response sent, or abandoned): back to the pool.
  void Release();

  // gRPC's side of the call, when it came over gRPC (server/infer_queues.cc):
  // created when the slot is offered for a call, destroyed on Release.
  enum class RpcStage { kWaitingForCall, kFinishing };
  RpcStage rpc_stage = RpcStage::kWaitingForCall;
  std::optional<grpc::ServerContext> context;
  std::optional<grpc::ServerAsyncResponseWriter<inference::ModelInferResponse>> responder;

 private:
  friend class InferPool;
  InferPool* const pool_;
  inference::ModelInferRequest request_;
  inference::ModelInferResponse response_;
  InferScratch scratch_;
  std::optional<InferCall> call_;
  size_t largest_bytes_ = 0;  // most message bytes this slot has held
};

class InferPool final {
 public:
  static constexpr size_t kMaxPooledMessageBytes = size_t{1} << 20;
  static constexpr size_t kMaxFreeSlots = 64;

  InferPool() { free_.reserve(kMaxFreeSlots); }  // recycling never grows it
  InferPool(const InferPool&) = delete;
  InferPool& operator=(const InferPool&) = delete;

  InferSlot* Allocate();
  // Destroys the slot's call, clears its messages and keeps it for reuse (or
  // frees it: see the header comment).
  void Recycle(InferSlot* slot);
  size_t free_slots() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<InferSlot>> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace q8::server
