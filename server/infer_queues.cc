// InferQueues (server/infer_queues.h).
#include "server/infer_queues.h"

#include <pthread.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "server/grpc_status.h"

namespace q8::server {

InferQueues::InferQueues(InferenceService* service, InferPool* pool, grpc::ServerBuilder* builder, int threads)
    : service_(service), pool_(pool) {
  for (int i = 0; i < std::max(1, threads); ++i) queues_.push_back(builder->AddCompletionQueue());
}

InferQueues::~InferQueues() { Shutdown(); }

void InferQueues::Start() {
  for (auto& queue : queues_) {
    for (int i = 0; i < kRequestedPerQueue; ++i) Request(queue.get());
    threads_.emplace_back([this, q = queue.get()] {
      pthread_setname_np(pthread_self(), "q8_infer_rpc");
      Run(q);
    });
  }
}

void InferQueues::Shutdown() {
  std::call_once(shut_down_, [this] {
    for (auto& queue : queues_) queue->Shutdown();
    for (std::thread& t : threads_) t.join();
    // Without Start() no thread drained the queues; gRPC requires it.
    if (threads_.empty()) {
      for (auto& queue : queues_) {
        void* tag;
        bool ok;
        while (queue->Next(&tag, &ok)) static_cast<InferSlot*>(tag)->Release();
      }
    }
  });
}

void InferQueues::Request(grpc::ServerCompletionQueue* queue) {
  InferSlot* slot = pool_->Allocate();
  slot->rpc_stage = InferSlot::RpcStage::kWaitingForCall;
  slot->responder.emplace(&slot->context.emplace());
  service_->RequestModelInfer(&*slot->context, slot->request(), &*slot->responder, queue, queue, slot);
}

void InferQueues::Run(grpc::ServerCompletionQueue* queue) {
  struct Event {
    InferSlot* slot;
    bool ok;
  };
  std::vector<Event> events;
  events.reserve(kMaxEventsPerRound);
  void* tag;
  bool ok;
  while (queue->Next(&tag, &ok)) {
    // Take whatever else is ready without blocking: when several calls
    // arrived together, all but the last go to the model's streams (other
    // CPUs) and only the last may run on this thread.
    events.clear();
    events.push_back({static_cast<InferSlot*>(tag), ok});
    while (events.size() < kMaxEventsPerRound &&
           queue->AsyncNext(&tag, &ok, gpr_time_0(GPR_CLOCK_MONOTONIC)) == grpc::CompletionQueue::GOT_EVENT) {
      events.push_back({static_cast<InferSlot*>(tag), ok});
    }
    size_t last_call = events.size();
    for (size_t i = 0; i < events.size(); ++i) {
      if (events[i].ok && events[i].slot->rpc_stage == InferSlot::RpcStage::kWaitingForCall) last_call = i;
    }
    for (size_t i = 0; i < events.size(); ++i) {
      InferSlot* slot = events[i].slot;
      if (slot->rpc_stage == InferSlot::RpcStage::kFinishing || !events[i].ok) {
        slot->Release();  // response sent (or the call failed), or the server is shutting down
        continue;
      }
      Request(queue);  // keep kRequestedPerQueue calls requested
      slot->rpc_stage = InferSlot::RpcStage::kFinishing;
      service_->Serve(
          slot,
          [slot](const absl::Status& status) {
            // Finish sends the message only with an OK status.
            slot->responder->Finish(*slot->response(), ToGrpcStatus(status), slot);
          },
          /*may_run_inline=*/i == last_call);
    }
  }
}

}  // namespace q8::server
