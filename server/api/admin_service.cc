#include "api/admin_service.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/process.h"
#include "common/time_proto.h"
#include "core/queue.h"

namespace jobq::api {
namespace {

using daemon::CoreContext;

void FillQuantiles(const Histogram& h, v1::Quantiles* out) {
  DurationToProto(h.Quantile(0.50), out->mutable_p50());
  DurationToProto(h.Quantile(0.90), out->mutable_p90());
  DurationToProto(h.Quantile(0.99), out->mutable_p99());
  DurationToProto(h.Max(), out->mutable_max());
  out->set_count(h.Count());
}

void FillStorageStats(const store::WalStats& w, uint64_t live_bytes,
                      v1::StorageStats* out) {
  out->set_data_dir(w.dir);
  out->set_sync(w.sync);
  out->set_segments(w.segments);
  out->set_log_bytes(w.log_bytes);
  out->set_live_bytes(std::min(live_bytes, w.log_bytes));
  out->set_dead_bytes(w.log_bytes - std::min(live_bytes, w.log_bytes));
  out->set_records_written(w.records_written);
  out->set_writes(w.batches_written);
  out->set_fsyncs(w.fsyncs);
  auto* g = out->mutable_group_records();
  g->set_p50(static_cast<uint64_t>(w.group_records.Quantile(0.5)));
  g->set_p90(static_cast<uint64_t>(w.group_records.Quantile(0.9)));
  g->set_p99(static_cast<uint64_t>(w.group_records.Quantile(0.99)));
  g->set_max(static_cast<uint64_t>(w.group_records.Max()));
  g->set_count(w.group_records.Count());
  FillQuantiles(w.fsync_us, out->mutable_fsync_latency());
  out->set_failure(w.failure);
  out->set_stalled(w.stalled);
  if (w.stalled_since_us > 0) {
    TimeToProto(w.stalled_since_us, out->mutable_stalled_since());
  }
  out->set_write_failures(w.write_failures);
  out->set_withdrawn_records(w.withdrawn_records);
}

// Every admin call needs the admin role; one about a queue also needs a
// queue pattern that matches it.
absl::Status Admit(ServiceContext* ctx,
                   const grpc::CallbackServerContext& context,
                   const std::string* queue = nullptr) {
  auto caller = ctx->auth->Authenticate(context, auth::kAdmin);
  if (!caller.ok()) return caller.status();
  if (queue == nullptr) return absl::OkStatus();
  if (absl::Status s = ValidateQueueName(*queue, "queue"); !s.ok()) return s;
  return ctx->auth->CheckQueue(*caller, *queue, "queue");
}

// Admits the call (for `queue`, when given) and posts `task` to the core;
// `reactor` is the call's default reactor, which `task` finishes.
grpc::ServerUnaryReactor* Post(ServiceContext* ctx,
                               grpc::CallbackServerContext* context,
                               grpc::ServerUnaryReactor* reactor,
                               daemon::CoreTask task,
                               const std::string* queue = nullptr) {
  if (absl::Status s = Admit(ctx, *context, queue); !s.ok()) {
    reactor->Finish(ToGrpc(s));
  } else if (grpc::Status refused = Refusal(*ctx); !refused.ok()) {
    reactor->Finish(refused);
  } else if (!ctx->core->Post(std::move(task))) {
    reactor->Finish(Unavailable());
  }
  return reactor;
}

// Whether a queue control may name a queue that does not exist yet.
// Pausing one is how a queue is set up ahead of its jobs (they then wait
// for a resume); resuming or limiting an unknown queue is most likely a
// typo, and creating the queue would hide it.
enum class Unknown { kCreate, kNotFound };

// The common shape of the queue controls: admit the call for the queue,
// change the queue on the core, answer with its stats.
grpc::ServerUnaryReactor* ChangeQueue(
    ServiceContext* ctx, grpc::CallbackServerContext* context,
    const std::string& queue, v1::QueueStats* response,
    std::function<const core::Queue&(core::Scheduler&)> change,
    Unknown unknown = Unknown::kCreate) {
  auto* reactor = context->DefaultReactor();
  return Post(
      ctx, context, reactor,
      [change = std::move(change), response, reactor, queue,
       unknown](CoreContext& core) {
        if (unknown == Unknown::kNotFound &&
            core.scheduler.FindQueue(queue) == nullptr) {
          reactor->Finish(grpc::Status(
              grpc::StatusCode::NOT_FOUND,
              absl::StrCat("queue: ", Quoted(queue),
                           " does not exist (pause it to create it)")));
          return;
        }
        if (const absl::Status& s = core.loop.Writable(); !s.ok()) {
          reactor->Finish(ToGrpc(s));  // Refused before anything changed.
          return;
        }
        FillQueueStats(change(core.scheduler), core.now, response);
        // Answered once the queue's new settings are durable.
        core.loop.AfterDurable(
            [reactor](const absl::Status& s) { reactor->Finish(ToGrpc(s)); });
      },
      &queue);
}

void Accumulate(const v1::QueueStats& q, v1::QueueStats* total) {
  total->set_scheduled(total->scheduled() + q.scheduled());
  total->set_ready(total->ready() + q.ready());
  total->set_running(total->running() + q.running());
  total->set_succeeded(total->succeeded() + q.succeeded());
  total->set_dead(total->dead() + q.dead());
  total->set_cancelled(total->cancelled() + q.cancelled());
  total->set_submitted_total(total->submitted_total() + q.submitted_total());
  total->set_completed_total(total->completed_total() + q.completed_total());
  total->set_submit_rate(total->submit_rate() + q.submit_rate());
  total->set_complete_rate(total->complete_rate() + q.complete_rate());
}

// Queues sorted by name, for stable output.
std::vector<const core::Queue*> SortedQueues(const core::Scheduler& s) {
  std::vector<const core::Queue*> out;
  for (const auto& [name, q] : s.queues()) out.push_back(&q);
  std::sort(out.begin(), out.end(),
            [](auto* a, auto* b) { return a->name < b->name; });
  return out;
}

}  // namespace

void FillQueueStats(const core::Queue& q, TimeUs now, v1::QueueStats* out) {
  out->set_name(q.name);
  out->set_paused(q.paused);
  out->set_max_concurrency(q.max_concurrency);
  out->set_max_queued(q.max_queued);
  out->set_refused_total(q.refused_total);
  out->set_scheduled(q.by_state[v1::JOB_STATE_SCHEDULED]);
  out->set_ready(q.by_state[v1::JOB_STATE_READY]);
  out->set_running(q.by_state[v1::JOB_STATE_RUNNING]);
  out->set_succeeded(q.by_state[v1::JOB_STATE_SUCCEEDED]);
  out->set_dead(q.by_state[v1::JOB_STATE_DEAD]);
  out->set_cancelled(q.by_state[v1::JOB_STATE_CANCELLED]);
  out->set_submitted_total(q.submitted_total);
  out->set_completed_total(q.completed_total);
  out->set_submit_rate(q.submit_rate.PerSecond(now));
  out->set_complete_rate(q.complete_rate.PerSecond(now));
  FillQuantiles(q.queue_wait, out->mutable_queue_wait());
  FillQuantiles(q.run_time, out->mutable_run_time());
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetStats(
    grpc::CallbackServerContext* context, const v1::GetStatsRequest* request,
    v1::GetStatsResponse* response) {
  auto* reactor = context->DefaultReactor();
  ServiceContext* ctx = ctx_;
  return Post(
      ctx_, context, reactor, [ctx, response, reactor](CoreContext& core) {
        response->set_version(ctx->version);
        DurationToProto(core.now - ctx->started_at, response->mutable_uptime());
        response->set_storage(ctx->wal != nullptr ? "wal" : "memory");
        response->set_workers(ctx->workers);
        response->set_open_streams(core.hub.size());
        response->set_resident_memory_bytes(ResidentMemoryBytes());
        response->set_jobs_held(core.scheduler.jobs().size());
        response->set_remote_workers(
            static_cast<uint32_t>(core.workers.size()));
        response->set_fenced_workers(
            static_cast<uint32_t>(core.workers.fenced()));
        for (const std::string& w : ctx->warnings) response->add_warnings(w);
        response->set_auth_required(ctx->auth->enabled());
        core.workers.KindStats(response->mutable_kinds());
        v1::QueueStats* total = response->mutable_total();
        total->set_name("*");
        Histogram wait, run;
        for (const core::Queue* q : SortedQueues(core.scheduler)) {
          v1::QueueStats* qs = response->add_queues();
          FillQueueStats(*q, core.now, qs);
          Accumulate(*qs, total);
          wait.Merge(q->queue_wait);
          run.Merge(q->run_time);
        }
        FillQuantiles(wait, total->mutable_queue_wait());
        FillQuantiles(run, total->mutable_run_time());
        if (ctx->wal != nullptr) {
          FillStorageStats(ctx->wal->Stats(), core.scheduler.retained_bytes(),
                           response->mutable_storage_stats());
        }
        reactor->Finish(grpc::Status::OK);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListQueues(
    grpc::CallbackServerContext* context, const v1::ListQueuesRequest* request,
    v1::ListQueuesResponse* response) {
  auto* reactor = context->DefaultReactor();
  return Post(ctx_, context, reactor, [response, reactor](CoreContext& core) {
    for (const core::Queue* q : SortedQueues(core.scheduler)) {
      FillQueueStats(*q, core.now, response->add_queues());
    }
    reactor->Finish(grpc::Status::OK);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListWorkers(
    grpc::CallbackServerContext* context, const v1::ListWorkersRequest* request,
    v1::ListWorkersResponse* response) {
  auto* reactor = context->DefaultReactor();
  return Post(ctx_, context, reactor, [response, reactor](CoreContext& core) {
    core.workers.List(response);
    reactor->Finish(grpc::Status::OK);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::PauseQueue(
    grpc::CallbackServerContext* context, const v1::PauseQueueRequest* request,
    v1::QueueStats* response) {
  std::string name = request->queue();
  return ChangeQueue(ctx_, context, name, response,
                     [name](core::Scheduler& s) -> const core::Queue& {
                       return s.PauseQueue(name, true);
                     });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ResumeQueue(
    grpc::CallbackServerContext* context, const v1::ResumeQueueRequest* request,
    v1::QueueStats* response) {
  std::string name = request->queue();
  return ChangeQueue(
      ctx_, context, name, response,
      [name](core::Scheduler& s) -> const core::Queue& {
        return s.PauseQueue(name, false);
      },
      Unknown::kNotFound);
}

grpc::ServerUnaryReactor* AdminServiceImpl::SetQueueLimits(
    grpc::CallbackServerContext* context,
    const v1::SetQueueLimitsRequest* request, v1::QueueStats* response) {
  const char* bad = request->max_concurrency() < 0
                        ? "max_concurrency: must not be negative"
                    : request->has_max_queued() && request->max_queued() < 0
                        ? "max_queued: must not be negative"
                        : nullptr;
  if (bad != nullptr) {
    // Who asks comes first.
    auto* reactor = context->DefaultReactor();
    absl::Status s = Admit(ctx_, *context);
    reactor->Finish(s.ok()
                        ? grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, bad)
                        : ToGrpc(s));
    return reactor;
  }
  std::string name = request->queue();
  int32_t max = request->max_concurrency();
  std::optional<int64_t> queued;
  if (request->has_max_queued()) queued = request->max_queued();
  return ChangeQueue(
      ctx_, context, name, response,
      [name, max, queued](core::Scheduler& s) -> const core::Queue& {
        if (queued) s.SetMaxQueued(name, *queued);
        return s.SetMaxConcurrency(name, max);
      },
      Unknown::kNotFound);
}

}  // namespace jobq::api
