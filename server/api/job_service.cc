#include "api/job_service.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "api/watch_reactor.h"
#include "core/job.h"
#include "events/event_hub.h"

namespace jobq::api {
namespace {

using daemon::CoreContext;

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

grpc::Status Invalid(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

grpc::Status NotFound(uint64_t seq) {
  return grpc::Status(
      grpc::StatusCode::NOT_FOUND,
      absl::StrCat("job ", core::FormatJobId(seq), " not found"));
}

// Parses a job id field, or explains what is wrong with it.
bool ParseIdField(const std::string& id, absl::string_view field, uint64_t* seq,
                  grpc::Status* error) {
  if (core::ParseJobId(id, seq)) return true;
  *error = Invalid(absl::StrCat(field, ": ", Quoted(id),
                                " is not a job id (16 hex digits)"));
  return false;
}

// Posts `task` to the core; if the core has stopped, finishes the call.
grpc::ServerUnaryReactor* PostUnary(ServiceContext* ctx,
                                    grpc::ServerUnaryReactor* reactor,
                                    daemon::CoreTask task) {
  if (grpc::Status refused = Refusal(*ctx); !refused.ok()) {
    reactor->Finish(refused);
  } else if (!ctx->core->Post(std::move(task))) {
    reactor->Finish(Unavailable());
  }
  return reactor;
}

// Builds a ListJobs page a bounded step per core turn, posting itself
// again until the page is complete.
daemon::CoreTask ListTask(core::JobListing listing,
                          v1::ListJobsResponse* response,
                          grpc::ServerUnaryReactor* reactor) {
  return [listing = std::move(listing), response,
          reactor](CoreContext& core) mutable {
    if (listing.Step(core.scheduler, response)) {
      reactor->Finish(grpc::Status::OK);
    } else if (!core.loop.Post(
                   ListTask(std::move(listing), response, reactor))) {
      reactor->Finish(Unavailable());
    }
  };
}

// Authenticates a submit of one job, validates the spec (and the states
// to watch, if given) and, last, takes the job from the caller's rate.
absl::Status AdmitSubmit(
    ServiceContext* ctx, const grpc::CallbackServerContext& context,
    v1::JobSpec& spec,
    const google::protobuf::RepeatedField<int>* watch_states = nullptr) {
  auto caller = ctx->auth->Authenticate(context, auth::kSubmit);
  if (!caller.ok()) return caller.status();
  if (absl::Status s = ValidateSpec(spec, ctx->limits); !s.ok()) return s;
  if (watch_states != nullptr) {
    if (absl::Status s = ValidateStates(*watch_states, "watch_states");
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s =
          ctx->auth->CheckQueue(*caller, spec.queue(), "job.queue");
      !s.ok()) {
    return s;
  }
  if (ctx->auth->TakeSubmits(*caller, 1) == 0) {
    return ctx->auth->RateLimited(*caller, "job");
  }
  return absl::OkStatus();
}

// PERMISSION_DENIED unless the caller may use the job's queue (for the
// calls that name jobs by id).
absl::Status CheckJob(ServiceContext* ctx, const auth::Caller& caller,
                      const core::Job& job) {
  if (caller.MayUseQueue(job.queue())) return absl::OkStatus();
  return ctx->auth->CheckQueue(
      caller, job.queue(), absl::StrCat("job ", core::FormatJobId(job.seq)));
}

}  // namespace

grpc::ServerUnaryReactor* JobServiceImpl::Submit(
    grpc::CallbackServerContext* context, const v1::SubmitRequest* request,
    v1::SubmitResponse* response) {
  auto* reactor = context->DefaultReactor();
  v1::JobSpec spec = request->job();
  if (absl::Status s = AdmitSubmit(ctx_, *context, spec); !s.ok()) {
    reactor->Finish(ToGrpc(s));
    return reactor;
  }
  return PostUnary(
      ctx_, reactor,
      [spec = std::move(spec), response, reactor](CoreContext& core) mutable {
        std::vector<v1::JobSpec> specs;
        specs.push_back(std::move(spec));
        // Answered once the job is durable.
        core.loop.Submit(
            std::move(specs), core.now,
            [response, reactor](CoreContext&, const absl::Status& s,
                                const std::vector<core::SubmitOutcome>& out) {
              if (!s.ok()) {
                reactor->Finish(ToGrpc(s));
                return;
              }
              if (out[0].refused()) {
                reactor->Finish(QueueFull("job.queue", out[0].full_at));
                return;
              }
              response->set_job_id(core::FormatJobId(out[0].seq));
              response->set_duplicate(out[0].duplicate);
              reactor->Finish(grpc::Status::OK);
            });
      });
}

grpc::ServerUnaryReactor* JobServiceImpl::SubmitBatch(
    grpc::CallbackServerContext* context, const v1::SubmitBatchRequest* request,
    v1::SubmitBatchResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto caller = ctx_->auth->Authenticate(*context, auth::kSubmit);
  if (!caller.ok()) {
    reactor->Finish(ToGrpc(caller.status()));
    return reactor;
  }
  if (static_cast<size_t>(request->jobs_size()) > kMaxBatch) {
    reactor->Finish(
        Invalid(absl::StrCat("jobs: ", request->jobs_size(),
                             " jobs exceed the batch limit of ", kMaxBatch)));
    return reactor;
  }
  // Validated here; the core answers for the valid ones once they are
  // durable.
  std::vector<v1::JobSpec> accepted;
  std::vector<int> index;  // Of each accepted spec in the request.
  for (int i = 0; i < request->jobs_size(); ++i) {
    v1::SubmitResult* result = response->add_results();
    v1::JobSpec spec = request->jobs(i);
    absl::Status s =
        ValidateSpec(spec, ctx_->limits, absl::StrCat("jobs[", i, "]."));
    if (s.ok()) {
      s = ctx_->auth->CheckQueue(*caller, spec.queue(),
                                 absl::StrCat("jobs[", i, "].queue"));
    }
    if (!s.ok()) {
      result->set_code(static_cast<int32_t>(s.code()));
      result->set_message(std::string(s.message()));
      continue;
    }
    accepted.push_back(std::move(spec));
    index.push_back(i);
  }
  // The rate admits the first jobs; the rest are refused one by one.
  size_t admitted = static_cast<size_t>(
      ctx_->auth->TakeSubmits(*caller, static_cast<int>(accepted.size())));
  for (size_t k = admitted; k < index.size(); ++k) {
    absl::Status s =
        ctx_->auth->RateLimited(*caller, absl::StrCat("jobs[", index[k], "]"));
    v1::SubmitResult* result = response->mutable_results(index[k]);
    result->set_code(static_cast<int32_t>(s.code()));
    result->set_message(std::string(s.message()));
  }
  accepted.resize(admitted);
  index.resize(admitted);
  return PostUnary(ctx_, reactor,
                   [accepted = std::move(accepted), index = std::move(index),
                    response, reactor](CoreContext& core) mutable {
                     core.loop.Submit(
                         std::move(accepted), core.now,
                         [index = std::move(index), response, reactor](
                             CoreContext&, const absl::Status& s,
                             const std::vector<core::SubmitOutcome>& out) {
                           if (!s.ok() && !index.empty()) {
                             // The log could not take the batch: nothing
                             // of it was stored, and the call says so.
                             reactor->Finish(ToGrpc(s));
                             return;
                           }
                           for (size_t k = 0; k < index.size(); ++k) {
                             v1::SubmitResult* result =
                                 response->mutable_results(index[k]);
                             if (out[k].refused()) {
                               grpc::Status full = QueueFull(
                                   absl::StrCat("jobs[", index[k], "].queue"),
                                   out[k].full_at);
                               result->set_code(full.error_code());
                               result->set_message(full.error_message());
                               continue;
                             }
                             result->set_job_id(core::FormatJobId(out[k].seq));
                             result->set_duplicate(out[k].duplicate);
                           }
                           reactor->Finish(grpc::Status::OK);
                         });
                   });
}

grpc::ServerWriteReactor<v1::WatchResponse>* JobServiceImpl::SubmitAndWatch(
    grpc::CallbackServerContext* context, const v1::SubmitRequest* request) {
  v1::JobSpec spec = request->job();
  if (absl::Status s =
          AdmitSubmit(ctx_, *context, spec, &request->watch_states());
      !s.ok()) {
    return new WatchReactor(ctx_, ToGrpc(s));
  }
  events::EventHub::StateMask states =
      events::EventHub::MaskOf(request->watch_states());
  if (grpc::Status refused = Refusal(*ctx_); !refused.ok()) {
    return new WatchReactor(ctx_, refused);
  }
  return new WatchReactor(
      ctx_, [spec = std::move(spec), states](
                CoreContext& core,
                const std::shared_ptr<WatchReactor::Shared>& shared) mutable {
        std::vector<v1::JobSpec> specs;
        specs.push_back(std::move(spec));
        // The watch starts once the job is durable, with its first state.
        core.loop.Submit(
            std::move(specs), core.now,
            [shared, states](CoreContext& core, const absl::Status& s,
                             const std::vector<core::SubmitOutcome>& out) {
              if (!s.ok()) {
                shared->outbound->Close(ToGrpc(s));  // No outcomes then.
                return;
              }
              if (out[0].refused()) {
                shared->outbound->Close(QueueFull("job.queue", out[0].full_at));
                return;
              }
              const core::Job* job = core.scheduler.Find(out[0].seq);
              if (job == nullptr) {
                shared->outbound->Close(NotFound(out[0].seq));
                return;
              }
              shared->subscription = core.hub.Subscribe(shared->outbound);
              core.hub.WatchJob(shared->subscription, *job, states);
              core.hub.CloseWhenDone(shared->subscription);
              shared->outbound->Flush();
            });
      });
}

grpc::ServerBidiReactor<v1::SubmitRequest, v1::SubmitStreamResponse>*
JobServiceImpl::SubmitStream(grpc::CallbackServerContext* context) {
  auto caller = ctx_->auth->Authenticate(*context, auth::kSubmit);
  if (!caller.ok()) return new SubmitStreamReactor(ctx_, caller.status());
  return new SubmitStreamReactor(ctx_, *std::move(caller));
}

grpc::ServerWriteReactor<v1::WatchResponse>* JobServiceImpl::Watch(
    grpc::CallbackServerContext* context, const v1::WatchRequest* request) {
  auto caller = ctx_->auth->Authenticate(*context, auth::kRead);
  if (!caller.ok()) return new WatchReactor(ctx_, ToGrpc(caller.status()));
  if (request->job_ids().empty() && request->queue().empty()) {
    return new WatchReactor(
        ctx_, Invalid("job_ids: give job ids or a queue to watch"));
  }
  if (!request->queue().empty()) {
    absl::Status s = ValidateQueueName(request->queue(), "queue");
    if (s.ok()) s = ctx_->auth->CheckQueue(*caller, request->queue(), "queue");
    if (!s.ok()) return new WatchReactor(ctx_, ToGrpc(s));
  }
  if (absl::Status s = ValidateStates(request->states(), "states"); !s.ok()) {
    return new WatchReactor(ctx_, ToGrpc(s));
  }
  events::EventHub::StateMask states =
      events::EventHub::MaskOf(request->states());
  // A job named twice is watched once: its events arrive once.
  std::vector<uint64_t> seqs;
  absl::flat_hash_set<uint64_t> seen;
  for (int i = 0; i < request->job_ids_size(); ++i) {
    uint64_t seq;
    grpc::Status error;
    if (!ParseIdField(request->job_ids(i), absl::StrCat("job_ids[", i, "]"),
                      &seq, &error)) {
      return new WatchReactor(ctx_, error);
    }
    if (seen.insert(seq).second) seqs.push_back(seq);
  }
  if (grpc::Status refused = Refusal(*ctx_); !refused.ok()) {
    return new WatchReactor(ctx_, refused);
  }
  return new WatchReactor(
      ctx_, [ctx = ctx_, caller = *std::move(caller), seqs = std::move(seqs),
             queue = request->queue(),
             states](CoreContext& core,
                     const std::shared_ptr<WatchReactor::Shared>& shared_ptr) {
        WatchReactor::Shared& shared = *shared_ptr;
        for (uint64_t seq : seqs) {
          const core::Job* job = core.scheduler.Find(seq);
          if (job == nullptr) {
            shared.outbound->Close(NotFound(seq));
            return;
          }
          if (absl::Status s = CheckJob(ctx, caller, *job); !s.ok()) {
            shared.outbound->Close(ToGrpc(s));
            return;
          }
        }
        size_t max = ctx->max_watchers_per_queue;
        if (!queue.empty() && max > 0 && core.hub.QueueWatchers(queue) >= max) {
          ctx->watchers_refused.fetch_add(1, std::memory_order_relaxed);
          shared.outbound->Close(grpc::Status(
              grpc::StatusCode::RESOURCE_EXHAUSTED,
              absl::StrCat("queue: \"", queue, "\" has ", max,
                           " watchers, its max_watchers_per_queue; retry "
                           "later")));
          return;
        }
        shared.subscription = core.hub.Subscribe(shared.outbound);
        for (uint64_t seq : seqs) {
          core.hub.WatchJob(shared.subscription, *core.scheduler.Find(seq),
                            states);
        }
        if (!queue.empty()) {
          core.hub.WatchQueue(shared.subscription, queue, core.scheduler,
                              states);
          shared.outbound->AddOpening();
        } else {
          core.hub.CloseWhenDone(shared.subscription);
        }
      });
}

grpc::ServerUnaryReactor* JobServiceImpl::GetJob(
    grpc::CallbackServerContext* context, const v1::GetJobRequest* request,
    v1::Job* response) {
  auto* reactor = context->DefaultReactor();
  auto caller = ctx_->auth->Authenticate(*context, auth::kRead);
  if (!caller.ok()) {
    reactor->Finish(ToGrpc(caller.status()));
    return reactor;
  }
  uint64_t seq;
  grpc::Status error;
  if (!ParseIdField(request->job_id(), "job_id", &seq, &error)) {
    reactor->Finish(error);
    return reactor;
  }
  return PostUnary(ctx_, reactor,
                   [ctx = ctx_, caller = *std::move(caller), seq, response,
                    reactor](CoreContext& core) {
                     const core::Job* job = core.scheduler.Find(seq);
                     if (job == nullptr) {
                       reactor->Finish(NotFound(seq));
                       return;
                     }
                     if (absl::Status s = CheckJob(ctx, caller, *job);
                         !s.ok()) {
                       reactor->Finish(ToGrpc(s));
                       return;
                     }
                     core.scheduler.ToProto(*job, response);
                     reactor->Finish(grpc::Status::OK);
                   });
}

grpc::ServerUnaryReactor* JobServiceImpl::CancelJob(
    grpc::CallbackServerContext* context, const v1::CancelJobRequest* request,
    v1::Job* response) {
  auto* reactor = context->DefaultReactor();
  // Producers cancel their own queues' jobs; admins any.
  auto caller =
      ctx_->auth->Authenticate(*context, auth::kSubmit | auth::kAdmin);
  if (!caller.ok()) {
    reactor->Finish(ToGrpc(caller.status()));
    return reactor;
  }
  uint64_t seq;
  grpc::Status error;
  if (!ParseIdField(request->job_id(), "job_id", &seq, &error)) {
    reactor->Finish(error);
    return reactor;
  }
  return PostUnary(
      ctx_, reactor,
      [ctx = ctx_, caller = *std::move(caller), seq, response,
       reactor](CoreContext& core) {
        if (const core::Job* job = core.scheduler.Find(seq); job != nullptr) {
          if (absl::Status s = CheckJob(ctx, caller, *job); !s.ok()) {
            reactor->Finish(ToGrpc(s));
            return;
          }
        }
        if (const absl::Status& s = core.loop.Writable(); !s.ok()) {
          reactor->Finish(ToGrpc(s));  // Refused before anything changed.
          return;
        }
        auto out = core.scheduler.Cancel(seq, core.now);
        if (!out.ok()) {
          reactor->Finish(ToGrpc(out.status()));
          return;
        }
        if (out->running_attempt)
          core.dispatcher.Cancel(seq, *out->running_attempt);
        core.scheduler.ToProto(*out->job, response);
        core.loop.AfterDurable(
            [reactor](const absl::Status& s) { reactor->Finish(ToGrpc(s)); });
      });
}

grpc::ServerUnaryReactor* JobServiceImpl::ListJobs(
    grpc::CallbackServerContext* context, const v1::ListJobsRequest* request,
    v1::ListJobsResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto caller = ctx_->auth->Authenticate(*context, auth::kRead);
  if (!caller.ok()) {
    reactor->Finish(ToGrpc(caller.status()));
    return reactor;
  }
  absl::Status valid = request->queue().empty()
                           ? ctx_->auth->CheckAllQueues(*caller, "queue")
                           : ValidateQueueName(request->queue(), "queue");
  if (valid.ok() && !request->queue().empty()) {
    valid = ctx_->auth->CheckQueue(*caller, request->queue(), "queue");
  }
  if (!valid.ok()) {
    reactor->Finish(ToGrpc(valid));
    return reactor;
  }
  if (!v1::JobState_IsValid(request->state())) {
    reactor->Finish(Invalid(
        absl::StrCat("state: ", request->state(), " is not a JobState")));
    return reactor;
  }
  if (request->page_size() < 0) {
    reactor->Finish(Invalid("page_size: must not be negative"));
    return reactor;
  }
  if (absl::Status s = ValidateLabels(request->labels(), "labels"); !s.ok()) {
    reactor->Finish(ToGrpc(s));
    return reactor;
  }
  uint64_t after = 0;
  if (!request->page_token().empty() &&
      !core::ParseJobId(request->page_token(), &after)) {
    reactor->Finish(Invalid("page_token: not a token from ListJobs"));
    return reactor;
  }
  int page_size = request->page_size() == 0
                      ? kDefaultPageSize
                      : std::min(request->page_size(), kMaxPageSize);
  core::JobFilter filter{request->queue(), request->state(), request->labels()};
  return PostUnary(ctx_, reactor,
                   ListTask(core::JobListing(std::move(filter), after,
                                             static_cast<size_t>(page_size)),
                            response, reactor));
}

}  // namespace jobq::api
