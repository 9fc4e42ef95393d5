#include "client/schedules.h"

namespace jobq::client {

absl::StatusOr<v1::Schedule> ScheduleClient::Create(
    const v1::Schedule& schedule) {
  v1::CreateScheduleRequest req;
  *req.mutable_schedule() = schedule;
  return client_->Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::schedules,
                        &v1::ScheduleService::Stub::CreateSchedule, req);
}

absl::StatusOr<v1::Schedule> ScheduleClient::Get(const std::string& name) {
  v1::GetScheduleRequest req;
  req.set_name(name);
  return client_->Unary(RetryPolicy::kAlways, &Cluster::Node::schedules,
                        &v1::ScheduleService::Stub::GetSchedule, req);
}

absl::StatusOr<v1::ListSchedulesResponse> ScheduleClient::List() {
  v1::ListSchedulesRequest req;
  return client_->Unary(RetryPolicy::kAlways, &Cluster::Node::schedules,
                        &v1::ScheduleService::Stub::ListSchedules, req);
}

absl::Status ScheduleClient::Delete(const std::string& name) {
  v1::DeleteScheduleRequest req;
  req.set_name(name);
  return client_
      ->Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::schedules,
              &v1::ScheduleService::Stub::DeleteSchedule, req)
      .status();
}

absl::StatusOr<v1::Schedule> ScheduleClient::Pause(const std::string& name) {
  v1::PauseScheduleRequest req;
  req.set_name(name);
  return client_->Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::schedules,
                        &v1::ScheduleService::Stub::PauseSchedule, req);
}

absl::StatusOr<v1::Schedule> ScheduleClient::Resume(const std::string& name) {
  v1::ResumeScheduleRequest req;
  req.set_name(name);
  return client_->Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::schedules,
                        &v1::ScheduleService::Stub::ResumeSchedule, req);
}

absl::StatusOr<v1::TriggerScheduleResponse> ScheduleClient::Trigger(
    const std::string& name) {
  v1::TriggerScheduleRequest req;
  req.set_name(name);
  return client_->Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::schedules,
                        &v1::ScheduleService::Stub::TriggerSchedule, req);
}

}  // namespace jobq::client
