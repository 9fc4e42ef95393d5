#pragma once

#include "api/arena_messages.h"
#include "api/service_context.h"
#include "jobq/v1/jobq.grpc.pb.h"

namespace jobq::api {

// jobq.v1.JobService. Each reaction validates its request on the gRPC
// thread, posts one task to the core and returns; the task answers.
// Thread: gRPC callback threads; the posted tasks run on the core.
class JobServiceImpl final : public v1::JobService::CallbackService {
 public:
  explicit JobServiceImpl(ServiceContext* ctx) : ctx_(ctx) {
    SetMessageAllocatorFor_ListJobs(&list_messages_);
  }

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const v1::SubmitRequest* request,
                                   v1::SubmitResponse* response) override;
  grpc::ServerUnaryReactor* SubmitBatch(
      grpc::CallbackServerContext* context,
      const v1::SubmitBatchRequest* request,
      v1::SubmitBatchResponse* response) override;
  grpc::ServerWriteReactor<v1::WatchResponse>* SubmitAndWatch(
      grpc::CallbackServerContext* context,
      const v1::SubmitRequest* request) override;
  grpc::ServerBidiReactor<v1::SubmitRequest, v1::SubmitStreamResponse>*
  SubmitStream(grpc::CallbackServerContext* context) override;
  grpc::ServerWriteReactor<v1::WatchResponse>* Watch(
      grpc::CallbackServerContext* context,
      const v1::WatchRequest* request) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const v1::GetJobRequest* request,
                                   v1::Job* response) override;
  grpc::ServerUnaryReactor* RetryJob(grpc::CallbackServerContext* context,
                                     const v1::RetryJobRequest* request,
                                     v1::Job* response) override;
  grpc::ServerUnaryReactor* DeleteJob(grpc::CallbackServerContext* context,
                                      const v1::DeleteJobRequest* request,
                                      v1::DeleteJobResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const v1::CancelJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;

 private:
  ServiceContext* const ctx_;
  // A ListJobs page is built on an arena (and freed with it).
  ArenaMessageAllocator<v1::ListJobsRequest, v1::ListJobsResponse>
      list_messages_;
};

}  // namespace jobq::api
