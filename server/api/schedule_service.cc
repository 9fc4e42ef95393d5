#include "api/schedule_service.h"

#include "absl/strings/str_cat.h"
#include "api/requests.h"

namespace jobq::api {
namespace {

// The caller, if it has one of `roles` and the core takes requests.
absl::StatusOr<auth::Caller> Admit(ServiceContext* ctx,
                                   const grpc::CallbackServerContext& context,
                                   uint8_t roles) {
  auto caller = ctx->auth->Authenticate(context, roles);
  if (!caller.ok()) return caller.status();
  if (absl::Status s = RefusalStatus(*ctx); !s.ok()) return s;
  return caller;
}

// Lets the core check a schedule's queue against the caller's token, as
// a job's (requests.h).
engine::QueueCheck ScheduleCheck(ServiceContext* ctx, auth::Caller caller) {
  return JobCheck(ctx->auth, std::move(caller));
}

// The definition's own fields; its spec and time zone are parsed by the
// core's command.
absl::Status ValidateSchedule(v1::Schedule& def,
                              const ValidationLimits& limits) {
  if (absl::Status s = CheckScheduleName(def.name(), "schedule.name");
      !s.ok()) {
    return s;
  }
  if (!def.has_job()) {
    return absl::InvalidArgumentError("schedule.job: required");
  }
  v1::JobSpec& job = *def.mutable_job();
  if (job.has_delay() || job.has_run_at()) {
    return absl::InvalidArgumentError(
        "schedule.job: delay and run_at cannot be set (the schedule decides "
        "when)");
  }
  if (!job.idempotency_key().empty()) {
    return absl::InvalidArgumentError(
        "schedule.job.idempotency_key: cannot be set (every firing is a new "
        "job)");
  }
  if (job.depends_on_size() > 0 || job.depends_on_index_size() > 0) {
    return absl::InvalidArgumentError(
        "schedule.job.depends_on: cannot be set (a firing waits for no "
        "job)");
  }
  if (absl::Status s = ValidateSpec(job, limits, "schedule.job."); !s.ok()) {
    return s;
  }
  // Room for the two labels every firing adds (jobq.schedule, jobq.slot).
  if (job.labels_size() > static_cast<int>(kMaxLabels) - 2) {
    return absl::InvalidArgumentError(
        "schedule.job.labels: at most 30 (a firing adds jobq.schedule and "
        "jobq.slot)");
  }
  if (!v1::OverlapPolicy_IsValid(def.overlap())) {
    return absl::InvalidArgumentError("schedule.overlap: unknown policy");
  }
  if (!v1::CatchUpPolicy_IsValid(def.catch_up())) {
    return absl::InvalidArgumentError("schedule.catch_up: unknown policy");
  }
  // Output fields are the server's.
  def.clear_next_run();
  def.clear_last_job_id();
  def.clear_last_run();
  def.clear_created_at();
  def.clear_last_slot();
  return absl::OkStatus();
}

// The shape of the calls that name a schedule: admit, check the name,
// call the core with the caller's queue check.
template <typename Call>
grpc::ServerUnaryReactor* ByName(ServiceContext* ctx,
                                 grpc::CallbackServerContext* context,
                                 const std::string& name, uint8_t roles,
                                 Call call) {
  auto* reactor = context->DefaultReactor();
  auto caller = Admit(ctx, *context, roles);
  absl::Status s = caller.status();
  if (s.ok()) s = CheckScheduleName(name, "name");
  if (!s.ok()) {
    reactor->Finish(ToGrpc(s));
    return reactor;
  }
  call(reactor, ScheduleCheck(ctx, *std::move(caller)));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* ScheduleServiceImpl::CreateSchedule(
    grpc::CallbackServerContext* context,
    const v1::CreateScheduleRequest* request, v1::Schedule* response) {
  auto* reactor = context->DefaultReactor();
  auto caller = Admit(ctx_, *context, auth::kAdmin);
  absl::Status s = caller.status();
  v1::Schedule def = request->schedule();
  if (s.ok()) s = ValidateSchedule(def, ctx_->limits);
  if (s.ok()) {
    s = ctx_->auth->CheckQueue(*caller, def.job().queue(),
                               "schedule.job.queue");
  }
  if (!s.ok()) {
    reactor->Finish(ToGrpc(s));
    return reactor;
  }
  ctx_->core->CreateSchedule(std::move(def), FinishInto(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* ScheduleServiceImpl::GetSchedule(
    grpc::CallbackServerContext* context, const v1::GetScheduleRequest* request,
    v1::Schedule* response) {
  return ByName(ctx_, context, request->name(), auth::kRead | auth::kAdmin,
                [&](grpc::ServerUnaryReactor* reactor, engine::QueueCheck c) {
                  ctx_->core->GetSchedule(request->name(), std::move(c),
                                          FinishInto(reactor, response));
                });
}

grpc::ServerUnaryReactor* ScheduleServiceImpl::ListSchedules(
    grpc::CallbackServerContext* context,
    const v1::ListSchedulesRequest* request,
    v1::ListSchedulesResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto caller = Admit(ctx_, *context, auth::kRead | auth::kAdmin);
  if (!caller.ok()) {
    reactor->Finish(ToGrpc(caller.status()));
    return reactor;
  }
  // Filtered by the caller's queues: no error for the others.
  ctx_->core->ListSchedules(ScheduleListCheck(*caller),
                            FinishInto(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* ScheduleServiceImpl::DeleteSchedule(
    grpc::CallbackServerContext* context,
    const v1::DeleteScheduleRequest* request,
    v1::DeleteScheduleResponse* response) {
  return ByName(ctx_, context, request->name(), auth::kAdmin,
                [&](grpc::ServerUnaryReactor* reactor, engine::QueueCheck c) {
                  ctx_->core->DeleteSchedule(request->name(), std::move(c),
                                             FinishInto(reactor, response));
                });
}

grpc::ServerUnaryReactor* ScheduleServiceImpl::PauseSchedule(
    grpc::CallbackServerContext* context,
    const v1::PauseScheduleRequest* request, v1::Schedule* response) {
  return ByName(ctx_, context, request->name(), auth::kAdmin,
                [&](grpc::ServerUnaryReactor* reactor, engine::QueueCheck c) {
                  ctx_->core->PauseSchedule(request->name(), true, std::move(c),
                                            FinishInto(reactor, response));
                });
}

grpc::ServerUnaryReactor* ScheduleServiceImpl::ResumeSchedule(
    grpc::CallbackServerContext* context,
    const v1::ResumeScheduleRequest* request, v1::Schedule* response) {
  return ByName(ctx_, context, request->name(), auth::kAdmin,
                [&](grpc::ServerUnaryReactor* reactor, engine::QueueCheck c) {
                  ctx_->core->PauseSchedule(request->name(), false,
                                            std::move(c),
                                            FinishInto(reactor, response));
                });
}

grpc::ServerUnaryReactor* ScheduleServiceImpl::TriggerSchedule(
    grpc::CallbackServerContext* context,
    const v1::TriggerScheduleRequest* request,
    v1::TriggerScheduleResponse* response) {
  return ByName(ctx_, context, request->name(), auth::kAdmin,
                [&](grpc::ServerUnaryReactor* reactor, engine::QueueCheck c) {
                  ctx_->core->TriggerSchedule(request->name(), std::move(c),
                                              FinishInto(reactor, response));
                });
}

}  // namespace jobq::api
