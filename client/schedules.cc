#include "client/schedules.h"

namespace jobq::client {

template <typename Response, typename Call>
absl::StatusOr<Response> ScheduleClient::Unary(Call call) {
  grpc::ClientContext ctx;
  client_->Prepare(&ctx);
  Response response;
  grpc::Status s = call(&ctx, &response);
  if (!s.ok()) return Client::FromGrpc(s);
  return response;
}

absl::StatusOr<v1::Schedule> ScheduleClient::Create(
    const v1::Schedule& schedule) {
  v1::CreateScheduleRequest req;
  *req.mutable_schedule() = schedule;
  return Unary<v1::Schedule>([&](auto* ctx, auto* resp) {
    return stub_->CreateSchedule(ctx, req, resp);
  });
}

absl::StatusOr<v1::Schedule> ScheduleClient::Get(const std::string& name) {
  v1::GetScheduleRequest req;
  req.set_name(name);
  return Unary<v1::Schedule>([&](auto* ctx, auto* resp) {
    return stub_->GetSchedule(ctx, req, resp);
  });
}

absl::StatusOr<v1::ListSchedulesResponse> ScheduleClient::List() {
  v1::ListSchedulesRequest req;
  return Unary<v1::ListSchedulesResponse>([&](auto* ctx, auto* resp) {
    return stub_->ListSchedules(ctx, req, resp);
  });
}

absl::Status ScheduleClient::Delete(const std::string& name) {
  v1::DeleteScheduleRequest req;
  req.set_name(name);
  return Unary<v1::DeleteScheduleResponse>([&](auto* ctx, auto* resp) {
           return stub_->DeleteSchedule(ctx, req, resp);
         })
      .status();
}

absl::StatusOr<v1::Schedule> ScheduleClient::Pause(const std::string& name) {
  v1::PauseScheduleRequest req;
  req.set_name(name);
  return Unary<v1::Schedule>([&](auto* ctx, auto* resp) {
    return stub_->PauseSchedule(ctx, req, resp);
  });
}

absl::StatusOr<v1::Schedule> ScheduleClient::Resume(const std::string& name) {
  v1::ResumeScheduleRequest req;
  req.set_name(name);
  return Unary<v1::Schedule>([&](auto* ctx, auto* resp) {
    return stub_->ResumeSchedule(ctx, req, resp);
  });
}

absl::StatusOr<v1::TriggerScheduleResponse> ScheduleClient::Trigger(
    const std::string& name) {
  v1::TriggerScheduleRequest req;
  req.set_name(name);
  return Unary<v1::TriggerScheduleResponse>([&](auto* ctx, auto* resp) {
    return stub_->TriggerSchedule(ctx, req, resp);
  });
}

}  // namespace jobq::client
