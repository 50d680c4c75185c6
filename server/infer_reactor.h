// The gRPC side of ModelInfer: the callback reactor that runs an InferCall,
// and the message allocator that recycles everything a call uses.
//
// InferPool is registered as ModelInfer's grpc::MessageAllocator. Each call
// gets an InferSlot: its request and response messages, its InferScratch
// (decoded views, output encoder, handle) and the reactor itself, all in one
// object that goes back to the pool when gRPC releases the call. A recycled
// message was Clear()ed, which keeps its strings' and repeated fields'
// storage, so parsing the next request into it and building the next
// response (raw_output_contents sized in place) allocate nothing when the
// shapes repeat. Protobuf arenas would not give that: an arena message's
// strings still allocate their bytes on the heap, per call.
//
// The reactor is inlineable (InternalInlineable): gRPC then runs OnDone and
// the slot's release on the thread that saw the call finish instead of
// handing each call to its executor thread, one wake-up and context switch
// per request (BENCHMARKS.md, "CPU per request"). Allowed because OnDone
// does no blocking work: it destroys the call's state and recycles the slot.
//
// Bounded memory: a slot whose messages ever held more than
// kMaxPooledMessageBytes is freed instead of pooled (a 64 MiB request does
// not stay resident), and at most kMaxFreeSlots wait in the pool.
//
// Thread safety: AllocateMessages and Release may run on any threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/message_allocator.h"
#include "inference.pb.h"
#include "server/infer_call.h"

namespace q8::server {

class InferPool;

// One ModelInfer call on gRPC's callback API. Lives in its slot.
class InferReactor final : public grpc::ServerUnaryReactor {
 public:
  // `finish` (in-process callers) replaces gRPC's Finish; null for RPCs.
  InferReactor(ModelRegistry* registry, ServingState* state, int64_t max_request_bytes,
               std::chrono::system_clock::time_point deadline, const inference::ModelInferRequest* request,
               inference::ModelInferResponse* response, InferScratch* scratch, InferCall::Finish finish)
      : finish_(std::move(finish)),
        call_(registry, state, max_request_bytes, request, response, deadline, scratch,
              [this](const absl::Status& status) { FinishWith(status); }) {}
  void Start() { call_.Start(); }

  // gRPC internal, but stable through 1.51: reactions run without an
  // executor hop. OnDone below is trivial, which is the condition.
  bool InternalInlineable() override { return true; }

 private:
  void FinishWith(const absl::Status& status);
  void OnDone() override {}  // the slot destroys this reactor when gRPC releases it
  const InferCall::Finish finish_;
  InferCall call_;
};

class InferSlot final : public grpc::MessageHolder<inference::ModelInferRequest, inference::ModelInferResponse> {
 public:
  explicit InferSlot(InferPool* pool);

  // Starts the call on this slot (ModelInfer's handler); returns its
  // reactor. `finish`: see InferReactor.
  grpc::ServerUnaryReactor* Start(ModelRegistry* registry, ServingState* state, int64_t max_request_bytes,
                                  std::chrono::system_clock::time_point deadline, InferCall::Finish finish = nullptr);
  // gRPC is done with the call: back to the pool.
  void Release() override;

 private:
  friend class InferPool;
  InferPool* const pool_;
  inference::ModelInferRequest request_;
  inference::ModelInferResponse response_;
  InferScratch scratch_;
  std::optional<InferReactor> reactor_;
  size_t largest_bytes_ = 0;  // most message bytes this slot has held
};

class InferPool final : public grpc::MessageAllocator<inference::ModelInferRequest, inference::ModelInferResponse> {
 public:
  static constexpr size_t kMaxPooledMessageBytes = size_t{1} << 20;
  static constexpr size_t kMaxFreeSlots = 64;

  InferPool() { free_.reserve(kMaxFreeSlots); }  // recycling never grows it
  InferPool(const InferPool&) = delete;
  InferPool& operator=(const InferPool&) = delete;

  InferSlot* AllocateMessages() override;
  // Destroys the slot's call, clears its messages and keeps it for reuse (or
  // frees it: see the header comment).
  void Recycle(InferSlot* slot);
  size_t free_slots() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<InferSlot>> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace q8::server
