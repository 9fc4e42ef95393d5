#include "api/requests.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "api/validation.h"
#include "core/job.h"

namespace jobq::api {

absl::StatusOr<uint64_t> ParseJobIdField(absl::string_view id,
                                         absl::string_view field) {
  uint64_t seq = 0;
  if (core::ParseJobId(std::string_view(id.data(), id.size()), &seq)) {
    return seq;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": ", Quoted(id), " is not a job id (16 hex digits)"));
}

engine::QueueCheck JobCheck(auth::Authorizer* auth, auth::Caller caller) {
  return [auth, caller = std::move(caller)](const std::string& queue,
                                            absl::string_view what) {
    if (caller.MayUseQueue(queue)) return absl::OkStatus();
    return auth->CheckQueue(caller, queue, what);
  };
}

absl::Status CheckScheduleName(const std::string& name,
                               absl::string_view field) {
  if (IsValidQueueName(name)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": ", Quoted(name), " must match [a-z0-9][a-z0-9._-]{0,63}"));
}

engine::QueueCheck ScheduleListCheck(const auth::Caller& caller) {
  if (caller.AllQueues()) return nullptr;
  return [caller](const std::string& queue, absl::string_view) {
    return caller.MayUseQueue(queue)
               ? absl::OkStatus()
               : absl::PermissionDeniedError("not this token's queue");
  };
}

absl::Status CheckQueueCommand(auth::Authorizer& auth,
                               const auth::Caller& caller,
                               absl::string_view queue,
                               absl::string_view field) {
  if (absl::Status s = ValidateQueueName(queue, field); !s.ok()) return s;
  return auth.CheckQueue(caller, queue, field);
}

absl::StatusOr<core::QueueLimits> MakeQueueLimits(
    const v1::SetQueueLimitsRequest& request) {
  const v1::SetQueueLimitsRequest& r = request;
  if (r.has_max_concurrency() && r.max_concurrency() < 0) {
    return absl::InvalidArgumentError("max_concurrency: must not be negative");
  }
  if (r.has_max_queued() && r.max_queued() < 0) {
    return absl::InvalidArgumentError("max_queued: must not be negative");
  }
  // Written so that NaN fails too.
  if (r.has_rate() && !(r.rate() >= 0 && r.rate() <= 1e9)) {
    return absl::InvalidArgumentError(
        "rate: must be from 0 to 1e9 starts a second");
  }
  if (r.has_burst() && r.burst() < 0) {
    return absl::InvalidArgumentError("burst: must not be negative");
  }
  core::QueueLimits limits;
  if (r.has_max_concurrency()) limits.max_concurrency = r.max_concurrency();
  if (r.has_max_queued()) limits.max_queued = r.max_queued();
  if (r.has_rate()) limits.rate = r.rate();
  if (r.has_burst()) limits.burst = r.burst();
  return limits;
}

absl::StatusOr<uint64_t> CheckRetryDeadLimit(int64_t limit) {
  if (limit < 0) {
    return absl::InvalidArgumentError("limit: must not be negative");
  }
  return static_cast<uint64_t>(limit);
}

absl::StatusOr<uint32_t> MakePurgeStates(
    const google::protobuf::RepeatedField<int>& states,
    absl::string_view field) {
  uint32_t bits = 0;
  for (int state : states) {
    if (!v1::JobState_IsValid(state) || state == v1::JOB_STATE_UNSPECIFIED ||
        state == v1::JOB_STATE_FAILED) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", state,
                       " is not a state a job rests in (WAITING, SCHEDULED, "
                       "READY, RUNNING, SUCCEEDED, DEAD, CANCELLED)"));
    }
    bits |= 1u << state;
  }
  if (bits == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": name at least one state"));
  }
  return bits;
}

absl::StatusOr<engine::ListQuery> MakeListQuery(
    auth::Authorizer& auth, const auth::Caller& caller,
    const v1::ListJobsRequest& request) {
  absl::Status valid = request.queue().empty()
                           ? auth.CheckAllQueues(caller, "queue")
                           : ValidateQueueName(request.queue(), "queue");
  if (valid.ok() && !request.queue().empty()) {
    valid = auth.CheckQueue(caller, request.queue(), "queue");
  }
  if (!valid.ok()) return valid;
  if (!v1::JobState_IsValid(request.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("state: ", request.state(), " is not a JobState"));
  }
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size: must not be negative");
  }
  if (absl::Status s = ValidateLabels(request.labels(), "labels"); !s.ok()) {
    return s;
  }
  engine::ListQuery query;
  if (!request.page_token().empty() &&
      !core::ParseJobId(request.page_token(), &query.after)) {
    return absl::InvalidArgumentError("page_token: not a token from ListJobs");
  }
  query.page_size = static_cast<size_t>(
      request.page_size() == 0 ? kDefaultPageSize
                               : std::min(request.page_size(), kMaxPageSize));
  query.filter = {request.queue(), request.state(), request.labels()};
  return query;
}

}  // namespace jobq::api
