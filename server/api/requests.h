#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auth/authorizer.h"
#include "core/queue.h"
#include "engine/core_api.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::api {

// The checks of a request that every front end makes the same way, before
// it calls engine::CoreApi: the gRPC services and the HTTP JSON API
// (web/) both call these, so a request means the same, and fails with the
// same status naming the same field, whichever way it arrives.
// Thread: any.

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

// The job id in `id` (16 hex digits), or INVALID_ARGUMENT naming `field`.
[[nodiscard]] absl::StatusOr<uint64_t> ParseJobIdField(absl::string_view id,
                                                       absl::string_view field);

// Lets the core check a job's queue against the caller's token
// (PERMISSION_DENIED naming the job). `auth` must outlive the check.
engine::QueueCheck JobCheck(auth::Authorizer* auth, auth::Caller caller);

// An admin call about one queue: a valid name the caller's queue patterns
// match. `field` names the queue in errors.
[[nodiscard]] absl::Status CheckQueueCommand(auth::Authorizer& auth,
                                             const auth::Caller& caller,
                                             absl::string_view queue,
                                             absl::string_view field = "queue");

// SetQueueLimits' values checked (INVALID_ARGUMENT naming a bad one) and
// turned into the limits the request sets; an absent field stays unset.
[[nodiscard]] absl::StatusOr<core::QueueLimits> MakeQueueLimits(
    const v1::SetQueueLimitsRequest& request);

// A schedule's name ([a-z0-9][a-z0-9._-]{0,63}), or INVALID_ARGUMENT
// naming `field`.
[[nodiscard]] absl::Status CheckScheduleName(const std::string& name,
                                             absl::string_view field);

// The check ListSchedules passes the core: the caller's queues only, the
// others left out without an error (null for a token of every queue).
engine::QueueCheck ScheduleListCheck(const auth::Caller& caller);

// RetryDead's limit (0: every DEAD job), or INVALID_ARGUMENT naming it.
[[nodiscard]] absl::StatusOr<uint64_t> CheckRetryDeadLimit(int64_t limit);

// PurgeQueue's states as the core's bit set (1 << v1::JobState): at least
// one, each a state a job rests in; INVALID_ARGUMENT naming `field`.
[[nodiscard]] absl::StatusOr<uint32_t> MakePurgeStates(
    const google::protobuf::RepeatedField<int>& states,
    absl::string_view field = "states");

// ListJobs' request checked (queue, state, page size, labels, page token,
// and the caller's queues) and turned into the core's query.
[[nodiscard]] absl::StatusOr<engine::ListQuery> MakeListQuery(
    auth::Authorizer& auth, const auth::Caller& caller,
    const v1::ListJobsRequest& request);

}  // namespace jobq::api
