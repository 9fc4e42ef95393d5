#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "api/service_context.h"
#include "events/outbound.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::api {

// The stream state that the core holds: the reactor may be gone by the time
// the core acts; the Outbound and the Watcher stay valid.
template <typename Response>
struct StreamShared {
  explicit StreamShared(events::StreamWriter<Response>* writer,
                        events::OutboundLimits limits)
      : outbound(std::make_shared<events::Outbound<Response>>(writer, limits)),
        watcher(std::make_shared<engine::Watcher>(outbound)) {}
  std::shared_ptr<events::Outbound<Response>> outbound;
  std::shared_ptr<engine::Watcher> watcher;
};

// A server-streaming reactor of job events, for Watch and SubmitAndWatch:
// made, then handed to the core (CoreApi::Watch or SubmitAndWatch through
// watcher()), which subscribes it and may close it at once (with an error,
// or with OK when nothing is left to watch).
// Lifetime: deletes itself in OnDone; the core never touches it, only the
// shared stream state.
// Thread: reactions on gRPC threads.
class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchResponse>,
                           public events::StreamWriter<v1::WatchResponse> {
 public:
  using Shared = StreamShared<v1::WatchResponse>;

  explicit WatchReactor(ServiceContext* ctx);
  // Ends at once with `status` (a request that failed validation).
  WatchReactor(ServiceContext* ctx, const grpc::Status& status);

  // What to hand to the core.
  const std::shared_ptr<engine::Watcher>& watcher() const {
    return shared_->watcher;
  }

  void WriteMessage(const v1::WatchResponse* response) override {
    StartWrite(response);
  }
  void FinishStream(const grpc::Status& status) override { Finish(status); }

  void OnWriteDone(bool ok) override { shared_->outbound->OnWriteDone(ok); }
  void OnCancel() override;
  void OnDone() override;

 private:
  ServiceContext* const ctx_;
  std::shared_ptr<Shared> shared_;
};

// SubmitStream: reads requests one at a time and submits each on the core;
// acks (and the events of jobs submitted with watch) go back packed. Reading
// pauses while too many requests wait for their acks to be written, so a
// client that sends but does not read is held back, not buffered.
// Thread: reactions on gRPC threads.
class SubmitStreamReactor final
    : public grpc::ServerBidiReactor<v1::SubmitRequest,
                                     v1::SubmitStreamResponse>,
      public events::StreamWriter<v1::SubmitStreamResponse> {
 public:
  static constexpr int kMaxUnacked = 8192;

  // Takes requests from `caller`, each checked against its queues and
  // rate.
  SubmitStreamReactor(ServiceContext* ctx, auth::Caller caller);
  // Ends at once with `status` (a caller refused).
  SubmitStreamReactor(ServiceContext* ctx, const absl::Status& status);

  void WriteMessage(const v1::SubmitStreamResponse* response) override {
    StartWrite(response);
  }
  void FinishStream(const grpc::Status& status) override { Finish(status); }
  void OnAcksWritten(size_t acks) override;

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override { shared_->outbound->OnWriteDone(ok); }
  void OnCancel() override;
  void OnDone() override;

 private:
  using Shared = StreamShared<v1::SubmitStreamResponse>;

  ServiceContext* const ctx_;
  const auth::Caller caller_;
  std::shared_ptr<Shared> shared_;
  v1::SubmitRequest request_;
  std::mutex read_mu_;
  int unacked_ = 0;           // Guarded by read_mu_.
  bool read_paused_ = false;  // Guarded by read_mu_.
  bool read_done_ = false;    // Guarded by read_mu_.
};

}  // namespace jobq::api
