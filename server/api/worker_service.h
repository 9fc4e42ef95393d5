#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "api/service_context.h"
#include "events/outbound.h"
#include "jobq/v1/jobq.grpc.pb.h"
#include "remote/registry.h"

namespace jobq::api {

// Checks a worker's hello for form: an id of at most 128 printable bytes,
// 1 to 64 valid kinds, valid queue names, concurrency 0 (meaning 1) to
// 10000. INVALID_ARGUMENT naming the field.
[[nodiscard]] absl::Status ValidateHello(const v1::WorkerHello& hello);

// One worker's Work stream. Reads one message at a time and posts it to the
// core, where the Registry owns the session; assignments go out through a
// bounded Outbound. The first message must be a hello.
// Lifetime: deletes itself in OnDone; core tasks hold only Shared.
// Thread: reactions on gRPC threads.
class WorkReactor final
    : public grpc::ServerBidiReactor<v1::WorkerMessage, v1::WorkAssignment>,
      public events::StreamWriter<v1::WorkAssignment> {
 public:
  WorkReactor(ServiceContext* ctx, std::string peer);

  void WriteMessage(const v1::WorkAssignment* message) override {
    StartWrite(message);
  }
  void FinishStream(const grpc::Status& status) override { Finish(status); }

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override { shared_->outbound->OnWriteDone(ok); }
  void OnCancel() override;
  void OnDone() override;

 private:
  struct Shared {
    std::shared_ptr<remote::WorkerStream> outbound;
    // Core thread only: the registry's session, 0 before the hello is
    // accepted and after the stream has ended.
    remote::Registry::SessionId session = 0;
    bool gone = false;
  };
  // Ends the session on the core: the worker's jobs go back to the queue;
  // then closes the stream with `close`, if given.
  void PostGone(std::optional<grpc::Status> close);

  ServiceContext* const ctx_;
  const std::string peer_;
  std::shared_ptr<Shared> shared_;
  v1::WorkerMessage message_;
  bool hello_seen_ = false;  // Read side only (one read at a time).
};

// jobq.v1.WorkerService.
class WorkerServiceImpl final : public v1::WorkerService::CallbackService {
 public:
  explicit WorkerServiceImpl(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerBidiReactor<v1::WorkerMessage, v1::WorkAssignment>* Work(
      grpc::CallbackServerContext* context) override {
    return new WorkReactor(ctx_, context->peer());
  }

 private:
  ServiceContext* const ctx_;
};

}  // namespace jobq::api
