// HealthService (server/health.h).
#include "server/health.h"

#include "absl/strings/str_cat.h"

namespace q8::server {

using grpc::health::v1::HealthCheckResponse;

HealthService::HealthService() { serving_[""] = false; }

void HealthService::Set(const std::string& name, bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  auto [it, added] = serving_.try_emplace(name, serving);
  if (added || it->second != serving) ++changes_;  // wakes the watchers
  it->second = serving;
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  for (auto& [name, serving] : serving_) serving = false;
  ++changes_;
}

HealthService::ServingStatus HealthService::StatusOf(const std::string& name) const {
  auto it = serving_.find(name);
  if (it == serving_.end()) return HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

grpc::Status HealthService::Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest* request,
                                  HealthCheckResponse* response) {
  absl::ReaderMutexLock lock(&mu_);
  const ServingStatus status = StatusOf(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("no health status for '", request->service(), "'"));
  }
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::ServerWriter<HealthCheckResponse>* writer) {
  uint64_t seen;
  {
    absl::MutexLock lock(&mu_);
    if (watches_ >= kMaxWatches) {
      return grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat(kMaxWatches, " health Watch streams are already open; use Check or retry later"));
    }
    ++watches_;
    seen = changes_ - 1;  // differs from changes_: the first status is always sent
  }
  // Never a status StatusOf returns, so the first one is always sent.
  ServingStatus sent = HealthCheckResponse::UNKNOWN;
  while (!context->IsCancelled()) {
    ServingStatus now;
    {
      absl::MutexLock lock(&mu_);
      auto changed = [this, &seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return changes_ != seen; };
      mu_.AwaitWithTimeout(absl::Condition(&changed), kWatchPoll);
      seen = changes_;
      now = StatusOf(request->service());
    }
    if (now == sent) continue;
    HealthCheckResponse response;
    response.set_status(now);
    if (!writer->Write(response)) break;  // the client went away
    sent = now;
  }
  absl::MutexLock lock(&mu_);
  --watches_;
  return grpc::Status::OK;
}

}  // namespace q8::server
