#pragma once

#include "api/service_context.h"
#include "jobq/v1/jobq.grpc.pb.h"

namespace jobq::core {
struct Queue;
}

namespace jobq::api {

// jobq.v1.AdminService: statistics and queue controls.
// Thread: gRPC callback threads; the posted tasks run on the core.
class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  explicit AdminServiceImpl(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const v1::GetStatsRequest* request,
                                     v1::GetStatsResponse* response) override;
  grpc::ServerUnaryReactor* ListQueues(
      grpc::CallbackServerContext* context,
      const v1::ListQueuesRequest* request,
      v1::ListQueuesResponse* response) override;
  grpc::ServerUnaryReactor* PauseQueue(grpc::CallbackServerContext* context,
                                       const v1::PauseQueueRequest* request,
                                       v1::QueueStats* response) override;
  grpc::ServerUnaryReactor* ResumeQueue(grpc::CallbackServerContext* context,
                                        const v1::ResumeQueueRequest* request,
                                        v1::QueueStats* response) override;
  grpc::ServerUnaryReactor* SetQueueLimits(
      grpc::CallbackServerContext* context,
      const v1::SetQueueLimitsRequest* request,
      v1::QueueStats* response) override;
  grpc::ServerUnaryReactor* ListWorkers(
      grpc::CallbackServerContext* context,
      const v1::ListWorkersRequest* request,
      v1::ListWorkersResponse* response) override;
  grpc::ServerUnaryReactor* RetryDead(grpc::CallbackServerContext* context,
                                      const v1::RetryDeadRequest* request,
                                      v1::RetryDeadResponse* response) override;
  grpc::ServerUnaryReactor* PurgeQueue(
      grpc::CallbackServerContext* context,
      const v1::PurgeQueueRequest* request,
      v1::PurgeQueueResponse* response) override;

 private:
  ServiceContext* const ctx_;
};

}  // namespace jobq::api
