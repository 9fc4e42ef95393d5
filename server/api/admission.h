#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "api/service_context.h"
#include "auth/authorizer.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::api {

// The admission of one submitted job, the same for every way of submitting:
// the spec checked field by field (defaults filled in), the states to watch
// (when given), then the caller's permission for its queue. `prefix` names
// the spec in errors ("job.", "jobs[3].").
[[nodiscard]] absl::Status CheckSubmit(
    const ServiceContext& ctx, const auth::Caller& caller, v1::JobSpec& spec,
    absl::string_view prefix = "job.",
    const google::protobuf::RepeatedField<int>* watch_states = nullptr);

// CheckSubmit, then, last, the job taken from the caller's rate (a batch
// takes its jobs from the rate together instead).
[[nodiscard]] absl::Status Admit(
    const ServiceContext& ctx, const auth::Caller& caller, v1::JobSpec& spec,
    const google::protobuf::RepeatedField<int>* watch_states = nullptr);

}  // namespace jobq::api
