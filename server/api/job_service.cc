#include "api/job_service.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "api/admission.h"
#include "api/requests.h"
#include "api/watch_reactor.h"
#include "core/job.h"
#include "events/event_hub.h"

namespace jobq::api {
namespace {

grpc::Status Invalid(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

// Parses a job id field, or explains what is wrong with it.
bool ParseIdField(const std::string& id, absl::string_view field, uint64_t* seq,
                  grpc::Status* error) {
  absl::StatusOr<uint64_t> parsed = ParseJobIdField(id, field);
  if (parsed.ok()) {
    *seq = *parsed;
    return true;
  }
  *error = ToGrpc(parsed.status());
  return false;
}

// Why the core takes no requests now (recovering, shutting down), as the
// call's answer; false when it takes them.
bool Refused(ServiceContext* ctx, grpc::ServerUnaryReactor* reactor) {
  grpc::Status refused = Refusal(*ctx);
  if (refused.ok()) return false;
  reactor->Finish(refused);
  return true;
}

// Authenticates a submit of one job and admits it (Admit).
absl::Status AdmitSubmit(
    ServiceContext* ctx, const grpc::CallbackServerContext& context,
    v1::JobSpec& spec,
    const google::protobuf::RepeatedField<int>* watch_states = nullptr) {
  auto caller = ctx->auth->Authenticate(context, auth::kSubmit);
  if (!caller.ok()) return caller.status();
  return Admit(*ctx, *caller, spec, watch_states);
}

// The parents `spec` (jobs[i] of a batch) names by position, renumbered
// among the specs the batch sends to the core (`position`): each must be
// an earlier job of the batch that was not refused.
absl::Status ParentsByPosition(const std::vector<int>& position, int i,
                               v1::JobSpec& spec) {
  for (int n = 0; n < spec.depends_on_index_size(); ++n) {
    int k = spec.depends_on_index(n);
    std::string field = absl::StrCat("jobs[", i, "].depends_on_index[", n, "]");
    if (k < 0 || k >= i) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": ", k, " is not the position of an earlier job"));
    }
    if (position[k] < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(field, ": jobs[", k, "] was refused"));
    }
    spec.set_depends_on_index(n, position[k]);
  }
  return absl::OkStatus();
}

// Lets the core check a job's queue against the caller's token.
engine::QueueCheck JobCheck(ServiceContext* ctx, auth::Caller caller) {
  return api::JobCheck(ctx->auth, std::move(caller));
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
  if (Refused(ctx_, reactor)) return reactor;
  std::vector<v1::JobSpec> specs;
  specs.push_back(std::move(spec));
  // Answered once the job is durable.
  bool posted = ctx_->core->Submit(
      std::move(specs),
      [response, reactor](const absl::Status& s,
                          const std::vector<core::SubmitOutcome>& out) {
        if (!s.ok()) {
          reactor->Finish(ToGrpc(s));
          return;
        }
        if (out[0].refused()) {
          reactor->Finish(SubmitRefused(out[0], "job."));
          return;
        }
        response->set_job_id(core::FormatJobId(out[0].seq));
        response->set_duplicate(out[0].duplicate);
        reactor->Finish(grpc::Status::OK);
      });
  if (!posted) reactor->Finish(Unavailable());
  return reactor;
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
  // Of each spec of the request among the accepted ones; -1 if refused.
  std::vector<int> position(request->jobs_size(), -1);
  for (int i = 0; i < request->jobs_size(); ++i) {
    v1::SubmitResult* result = response->add_results();
    v1::JobSpec spec = request->jobs(i);
    absl::Status s =
        CheckSubmit(*ctx_, *caller, spec, absl::StrCat("jobs[", i, "]."));
    if (s.ok()) s = ParentsByPosition(position, i, spec);
    if (!s.ok()) {
      result->set_code(static_cast<int32_t>(s.code()));
      result->set_message(std::string(s.message()));
      continue;
    }
    position[i] = static_cast<int>(accepted.size());
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
  if (Refused(ctx_, reactor)) return reactor;
  bool posted = ctx_->core->Submit(
      std::move(accepted),
      [index = std::move(index), response, reactor](
          const absl::Status& s, const std::vector<core::SubmitOutcome>& out) {
        if (!s.ok() && !index.empty()) {
          // The log could not take the batch: nothing of it was stored,
          // and the call says so.
          reactor->Finish(ToGrpc(s));
          return;
        }
        for (size_t k = 0; k < index.size(); ++k) {
          v1::SubmitResult* result = response->mutable_results(index[k]);
          if (out[k].refused()) {
            grpc::Status full =
                SubmitRefused(out[k], absl::StrCat("jobs[", index[k], "]."));
            result->set_code(full.error_code());
            result->set_message(full.error_message());
            continue;
          }
          result->set_job_id(core::FormatJobId(out[k].seq));
          result->set_duplicate(out[k].duplicate);
        }
        reactor->Finish(grpc::Status::OK);
      });
  if (!posted) reactor->Finish(Unavailable());
  return reactor;
}

grpc::ServerWriteReactor<v1::WatchResponse>* JobServiceImpl::SubmitAndWatch(
    grpc::CallbackServerContext* context, const v1::SubmitRequest* request) {
  v1::JobSpec spec = request->job();
  if (absl::Status s =
          AdmitSubmit(ctx_, *context, spec, &request->watch_states());
      !s.ok()) {
    return new WatchReactor(ctx_, ToGrpc(s));
  }
  if (grpc::Status refused = Refusal(*ctx_); !refused.ok()) {
    return new WatchReactor(ctx_, refused);
  }
  auto* reactor = new WatchReactor(ctx_);
  ctx_->core->SubmitAndWatch(reactor->watcher(), std::move(spec),
                             events::EventHub::MaskOf(request->watch_states()));
  return reactor;
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
  engine::WatchSpec spec;
  spec.queue = request->queue();
  spec.states = events::EventHub::MaskOf(request->states());
  // A job named twice is watched once: its events arrive once.
  absl::flat_hash_set<uint64_t> seen;
  for (int i = 0; i < request->job_ids_size(); ++i) {
    uint64_t seq;
    grpc::Status error;
    if (!ParseIdField(request->job_ids(i), absl::StrCat("job_ids[", i, "]"),
                      &seq, &error)) {
      return new WatchReactor(ctx_, error);
    }
    if (seen.insert(seq).second) spec.seqs.push_back(seq);
  }
  if (grpc::Status refused = Refusal(*ctx_); !refused.ok()) {
    return new WatchReactor(ctx_, refused);
  }
  spec.check = JobCheck(ctx_, *std::move(caller));
  auto* reactor = new WatchReactor(ctx_);
  ctx_->core->Watch(reactor->watcher(), std::move(spec));
  return reactor;
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
  if (Refused(ctx_, reactor)) return reactor;
  ctx_->core->GetJob(seq, JobCheck(ctx_, *std::move(caller)),
                     FinishInto(reactor, response));
  return reactor;
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
  if (Refused(ctx_, reactor)) return reactor;
  ctx_->core->CancelJob(seq, JobCheck(ctx_, *std::move(caller)),
                        FinishInto(reactor, response));
  return reactor;
}

// RetryJob and DeleteJob are authorized like CancelJob: producers act on
// their own queues' jobs, admins on any.
template <typename Response, typename Command>
grpc::ServerUnaryReactor* JobCommand(ServiceContext* ctx,
                                     grpc::CallbackServerContext* context,
                                     const std::string& job_id,
                                     Response* response, Command command) {
  auto* reactor = context->DefaultReactor();
  auto caller = ctx->auth->Authenticate(*context, auth::kSubmit | auth::kAdmin);
  if (!caller.ok()) {
    reactor->Finish(ToGrpc(caller.status()));
    return reactor;
  }
  uint64_t seq;
  grpc::Status error;
  if (!ParseIdField(job_id, "job_id", &seq, &error)) {
    reactor->Finish(error);
    return reactor;
  }
  if (Refused(ctx, reactor)) return reactor;
  command(seq, JobCheck(ctx, *std::move(caller)),
          FinishInto(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* JobServiceImpl::RetryJob(
    grpc::CallbackServerContext* context, const v1::RetryJobRequest* request,
    v1::Job* response) {
  return JobCommand(ctx_, context, request->job_id(), response,
                    [core = ctx_->core](uint64_t seq, engine::QueueCheck check,
                                        engine::Done<v1::Job> done) {
                      core->RetryJob(seq, std::move(check), std::move(done));
                    });
}

grpc::ServerUnaryReactor* JobServiceImpl::DeleteJob(
    grpc::CallbackServerContext* context, const v1::DeleteJobRequest* request,
    v1::DeleteJobResponse* response) {
  return JobCommand(
      ctx_, context, request->job_id(), response,
      [core = ctx_->core](uint64_t seq, engine::QueueCheck check,
                          engine::Done<v1::DeleteJobResponse> done) {
        core->DeleteJob(seq, std::move(check), std::move(done));
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
  absl::StatusOr<engine::ListQuery> query =
      MakeListQuery(*ctx_->auth, *caller, *request);
  if (!query.ok()) {
    reactor->Finish(ToGrpc(query.status()));
    return reactor;
  }
  if (Refused(ctx_, reactor)) return reactor;
  ctx_->core->ListJobs(
      *std::move(query),
      FinishWith<core::ListedJobs>(
          reactor,
          [response](core::ListedJobs&& page) { page.ToProto(response); },
          ctx_->bulk_replies.get()));
  return reactor;
}

}  // namespace jobq::api
