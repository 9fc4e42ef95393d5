#include "api/admission.h"

#include "absl/strings/str_cat.h"
#include "api/validation.h"

namespace jobq::api {

absl::Status CheckSubmit(
    const ServiceContext& ctx, const auth::Caller& caller, v1::JobSpec& spec,
    absl::string_view prefix,
    const google::protobuf::RepeatedField<int>* watch_states) {
  if (absl::Status s = ValidateSpec(spec, ctx.limits, prefix); !s.ok()) {
    return s;
  }
  if (watch_states != nullptr) {
    if (absl::Status s = ValidateStates(*watch_states, "watch_states");
        !s.ok()) {
      return s;
    }
  }
  return ctx.auth->CheckQueue(caller, spec.queue(),
                              absl::StrCat(prefix, "queue"));
}

absl::Status Admit(const ServiceContext& ctx, const auth::Caller& caller,
                   v1::JobSpec& spec,
                   const google::protobuf::RepeatedField<int>* watch_states) {
  if (spec.depends_on_index_size() > 0) {
    return absl::InvalidArgumentError(
        "job.depends_on_index: parents by position are for SubmitBatch; name "
        "them in depends_on");
  }
  if (absl::Status s = CheckSubmit(ctx, caller, spec, "job.", watch_states);
      !s.ok()) {
    return s;
  }
  if (ctx.auth->TakeSubmits(caller, 1) == 0) {
    return ctx.auth->RateLimited(caller, "job");
  }
  return absl::OkStatus();
}

}  // namespace jobq::api
