#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
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
// bounded Outbound. The first message must be a hello. Reading pauses while
// kMaxUnprocessed messages wait for the core, so a worker that floods the
// stream is held back by flow control, not buffered.
// Lifetime: deletes itself in OnDone; core tasks hold only Shared.
// Thread: reactions on gRPC threads.
class WorkReactor final
    : public grpc::ServerBidiReactor<v1::WorkerMessage, v1::WorkAssignment>,
      public events::StreamWriter<v1::WorkAssignment> {
 public:
  static constexpr int kMaxUnprocessed = 64;

  // `caller` is the worker's token, checked against the hello's queues; an
  // error ends the stream at once.
  WorkReactor(ServiceContext* ctx, std::string peer,
              absl::StatusOr<auth::Caller> caller);

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
    // The stream as the core sees it (its session).
    std::shared_ptr<engine::WorkerLink> link;
    // The read side's pause, shared with the core tasks that resume it.
    std::recursive_mutex read_mu;
    WorkReactor* reactor = nullptr;  // Guarded by read_mu; null once done.
    int unprocessed = 0;             // Guarded by read_mu.
    bool read_paused = false;        // Guarded by read_mu.
  };
  // PERMISSION_DENIED unless the caller's token may work the hello's
  // queues (all of them when it names none).
  absl::Status CheckQueues(const v1::WorkerHello& hello) const;
  // Posts the message read to the core; reads the next unless too many
  // wait. False if the core has stopped.
  bool PostMessage();
  // On the core, after a message: resumes reading if it paused.
  static void Processed(Shared& shared);
  // Ends the session on the core: the worker's jobs go back to the queue;
  // then closes the stream with `close`, if given.
  void PostGone(std::optional<grpc::Status> close);

  ServiceContext* const ctx_;
  const std::string peer_;
  const absl::StatusOr<auth::Caller> caller_;
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
    return new WorkReactor(ctx_, context->peer(),
                           ctx_->auth->Authenticate(*context, auth::kWorker));
  }

 private:
  ServiceContext* const ctx_;
};

}  // namespace jobq::api
