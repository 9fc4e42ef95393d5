#pragma once

#include "api/service_context.h"
#include "jobq/v1/jobq.grpc.pb.h"

namespace jobq::api {

// jobq.v1.ScheduleService: recurring jobs. Changes (create, delete, pause,
// resume, trigger) need the admin role and a queue pattern matching the
// template's queue; Get and List the read role (List shows only the
// schedules of the caller's queues). Every change answers once durable.
// Thread: gRPC callback threads; the posted tasks run on the core.
class ScheduleServiceImpl final : public v1::ScheduleService::CallbackService {
 public:
  explicit ScheduleServiceImpl(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* CreateSchedule(
      grpc::CallbackServerContext* context,
      const v1::CreateScheduleRequest* request,
      v1::Schedule* response) override;
  grpc::ServerUnaryReactor* GetSchedule(grpc::CallbackServerContext* context,
                                        const v1::GetScheduleRequest* request,
                                        v1::Schedule* response) override;
  grpc::ServerUnaryReactor* ListSchedules(
      grpc::CallbackServerContext* context,
      const v1::ListSchedulesRequest* request,
      v1::ListSchedulesResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSchedule(
      grpc::CallbackServerContext* context,
      const v1::DeleteScheduleRequest* request,
      v1::DeleteScheduleResponse* response) override;
  grpc::ServerUnaryReactor* PauseSchedule(
      grpc::CallbackServerContext* context,
      const v1::PauseScheduleRequest* request, v1::Schedule* response) override;
  grpc::ServerUnaryReactor* ResumeSchedule(
      grpc::CallbackServerContext* context,
      const v1::ResumeScheduleRequest* request,
      v1::Schedule* response) override;
  grpc::ServerUnaryReactor* TriggerSchedule(
      grpc::CallbackServerContext* context,
      const v1::TriggerScheduleRequest* request,
      v1::TriggerScheduleResponse* response) override;

 private:
  ServiceContext* const ctx_;
};

}  // namespace jobq::api
