#include "api/admin_service.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "api/requests.h"

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
    if (absl::Status s = CheckQueueCommand(*ctx->auth, *caller, *queue);
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

void AddHops(const LatencyHops& hops, v1::GetStatsResponse* response) {
  for (int i = 0; i < static_cast<int>(Hop::kCount); ++i) {
    Hop hop = static_cast<Hop>(i);
    Histogram h = hops.Snapshot(hop);
    v1::LatencyHop* out = response->add_hops();
    out->set_name(std::string(InfoOf(hop).name));
    out->set_help(std::string(InfoOf(hop).help));
    engine::FillQuantiles(h, out->mutable_latency());
    out->set_sum_us(h.Sum());
    h.ForEachBucket([out](int64_t bound, uint64_t count) {
      v1::HistogramBucket* b = out->add_buckets();
      b->set_upper_bound_us(bound);
      b->set_count(count);
    });
  }
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
        AddHops(ctx->hops, response);
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
  auto limits = MakeQueueLimits(*request);
  if (!limits.ok()) {
    // Who asks comes first.
    auto* reactor = context->DefaultReactor();
    auto caller = ctx_->auth->Authenticate(*context, auth::kAdmin);
    reactor->Finish(ToGrpc(caller.ok() ? limits.status() : caller.status()));
    return reactor;
  }
  auto* reactor = context->DefaultReactor();
  if (!Admitted(ctx_, context, reactor, &request->queue())) return reactor;
  ctx_->core->SetQueueLimits(request->queue(), *limits,
                             FinishInto(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::RetryDead(
    grpc::CallbackServerContext* context, const v1::RetryDeadRequest* request,
    v1::RetryDeadResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admitted(ctx_, context, reactor, &request->queue())) return reactor;
  auto limit = CheckRetryDeadLimit(request->limit());
  if (!limit.ok()) {
    reactor->Finish(ToGrpc(limit.status()));
    return reactor;
  }
  ctx_->core->RetryDead(
      request->queue(), *limit,
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
  auto states = MakePurgeStates(request->states());
  if (!states.ok()) {
    reactor->Finish(ToGrpc(states.status()));
    return reactor;
  }
  ctx_->core->PurgeQueue(
      request->queue(), *states,
      FinishWith<uint64_t>(reactor, [response](uint64_t&& count) {
        response->set_count(count);
      }));
  return reactor;
}

}  // namespace jobq::api
