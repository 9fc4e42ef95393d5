#include "api/admin_service.h"

#include <optional>

#include "absl/strings/str_cat.h"

namespace jobq::api {
namespace {

// Every admin call needs the admin role; one about a queue also needs a
// queue pattern that matches it. Then the core must take requests.
absl::Status Admit(ServiceContext* ctx,
                   const grpc::CallbackServerContext& context,
                   const std::string* queue = nullptr) {
  auto caller = ctx->auth->Authenticate(context, auth::kAdmin);
  if (!caller.ok()) return caller.status();
  if (queue != nullptr) {
    if (absl::Status s = ValidateQueueName(*queue, "queue"); !s.ok()) return s;
    if (absl::Status s = ctx->auth->CheckQueue(*caller, *queue, "queue");
        !s.ok()) {
      return s;
    }
  }
  return RefusalStatus(*ctx);
}

// Admits the call (for `queue`, when given); if refused, finishes
// `reactor` and returns false.
bool Admitted(ServiceContext* ctx, grpc::CallbackServerContext* context,
              grpc::ServerUnaryReactor* reactor,
              const std::string* queue = nullptr) {
  if (absl::Status s = Admit(ctx, *context, queue); !s.ok()) {
    reactor->Finish(ToGrpc(s));
    return false;
  }
  return true;
}

}  // namespace

grpc::ServerUnaryReactor* AdminServiceImpl::GetStats(
    grpc::CallbackServerContext* context, const v1::GetStatsRequest* request,
    v1::GetStatsResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admitted(ctx_, context, reactor)) return reactor;
  ctx_->core->GetStats(FinishWith<v1::GetStatsResponse>(
      reactor, [ctx = ctx_, response](v1::GetStatsResponse&& stats) {
        *response = std::move(stats);
        // What the daemon knows.
        response->set_version(ctx->version);
        response->set_workers(ctx->workers);
        for (const std::string& w : ctx->warnings) response->add_warnings(w);
        response->set_auth_required(ctx->auth->enabled());
      }));
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListQueues(
    grpc::CallbackServerContext* context, const v1::ListQueuesRequest* request,
    v1::ListQueuesResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admitted(ctx_, context, reactor)) return reactor;
  ctx_->core->ListQueues(FinishInto(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListWorkers(
    grpc::CallbackServerContext* context, const v1::ListWorkersRequest* request,
    v1::ListWorkersResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admitted(ctx_, context, reactor)) return reactor;
  ctx_->core->ListWorkers(FinishInto(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::PauseQueue(
    grpc::CallbackServerContext* context, const v1::PauseQueueRequest* request,
    v1::QueueStats* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admitted(ctx_, context, reactor, &request->queue())) return reactor;
  ctx_->core->PauseQueue(request->queue(), true, FinishInto(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::ResumeQueue(
    grpc::CallbackServerContext* context, const v1::ResumeQueueRequest* request,
    v1::QueueStats* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admitted(ctx_, context, reactor, &request->queue())) return reactor;
  ctx_->core->PauseQueue(request->queue(), false,
                         FinishInto(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::SetQueueLimits(
    grpc::CallbackServerContext* context,
    const v1::SetQueueLimitsRequest* request, v1::QueueStats* response) {
  const auto& r = *request;
  const char* bad =
      r.has_max_concurrency() && r.max_concurrency() < 0
          ? "max_concurrency: must not be negative"
      : r.has_max_queued() && r.max_queued() < 0
          ? "max_queued: must not be negative"
      : r.has_rate() && !(r.rate() >= 0 && r.rate() <= 1e9)
          ? "rate: must be from 0 to 1e9 starts a second"
      : r.has_burst() && r.burst() < 0 ? "burst: must not be negative"
                                       : nullptr;
  if (bad != nullptr) {
    // Who asks comes first.
    auto* reactor = context->DefaultReactor();
    auto caller = ctx_->auth->Authenticate(*context, auth::kAdmin);
    reactor->Finish(caller.ok()
                        ? grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, bad)
                        : ToGrpc(caller.status()));
    return reactor;
  }
  auto* reactor = context->DefaultReactor();
  if (!Admitted(ctx_, context, reactor, &request->queue())) return reactor;
  core::QueueLimits limits;
  if (r.has_max_concurrency()) limits.max_concurrency = r.max_concurrency();
  if (r.has_max_queued()) limits.max_queued = r.max_queued();
  if (r.has_rate()) limits.rate = r.rate();
  if (r.has_burst()) limits.burst = r.burst();
  ctx_->core->SetQueueLimits(request->queue(), limits,
                             FinishInto(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::RetryDead(
    grpc::CallbackServerContext* context, const v1::RetryDeadRequest* request,
    v1::RetryDeadResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admitted(ctx_, context, reactor, &request->queue())) return reactor;
  if (request->limit() < 0) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "limit: must not be negative"));
    return reactor;
  }
  ctx_->core->RetryDead(
      request->queue(), static_cast<uint64_t>(request->limit()),
      FinishWith<uint64_t>(reactor, [response](uint64_t&& count) {
        response->set_count(count);
      }));
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::PurgeQueue(
    grpc::CallbackServerContext* context, const v1::PurgeQueueRequest* request,
    v1::PurgeQueueResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admitted(ctx_, context, reactor, &request->queue())) return reactor;
  uint32_t states = 0;
  for (int state : request->states()) {
    if (!v1::JobState_IsValid(state) || state == v1::JOB_STATE_UNSPECIFIED ||
        state == v1::JOB_STATE_FAILED) {
      reactor->Finish(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("states: ", state,
                       " is not a state a job rests in (SCHEDULED, READY, "
                       "RUNNING, SUCCEEDED, DEAD, CANCELLED)")));
      return reactor;
    }
    states |= 1u << state;
  }
  if (states == 0) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "states: name at least one state"));
    return reactor;
  }
  ctx_->core->PurgeQueue(
      request->queue(), states,
      FinishWith<uint64_t>(reactor, [response](uint64_t&& count) {
        response->set_count(count);
      }));
  return reactor;
}

}  // namespace jobq::api
