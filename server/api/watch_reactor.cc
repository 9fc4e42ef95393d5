#include "api/watch_reactor.h"

#include "api/admission.h"
#include "core/job.h"
#include "events/event_hub.h"

namespace jobq::api {

WatchReactor::WatchReactor(ServiceContext* ctx)
    : ctx_(ctx), shared_(std::make_shared<Shared>(this, ctx->outbound)) {
  ctx_->streams.Opened();
}

WatchReactor::WatchReactor(ServiceContext* ctx, const grpc::Status& status)
    : ctx_(ctx), shared_(std::make_shared<Shared>(this, ctx->outbound)) {
  ctx_->streams.Opened();
  shared_->outbound->Close(status);
}

void WatchReactor::OnCancel() {
  shared_->outbound->Close(
      grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  ctx_->core->Unsubscribe(shared_->watcher);
}

void WatchReactor::OnDone() {
  ctx_->core->Unsubscribe(shared_->watcher);
  ctx_->streams.Closed();
  delete this;
}

SubmitStreamReactor::SubmitStreamReactor(ServiceContext* ctx,
                                         const absl::Status& status)
    : ctx_(ctx), shared_(std::make_shared<Shared>(this, ctx->outbound)) {
  ctx_->streams.Opened();
  shared_->outbound->Close(ToGrpc(status));
}

SubmitStreamReactor::SubmitStreamReactor(ServiceContext* ctx,
                                         auth::Caller caller)
    : ctx_(ctx),
      caller_(std::move(caller)),
      shared_(std::make_shared<Shared>(this, ctx->outbound)) {
  ctx_->streams.Opened();
  if (grpc::Status refused = Refusal(*ctx_); !refused.ok()) {
    shared_->outbound->Close(refused);
    return;
  }
  if (!ctx_->core->OpenStream(shared_->watcher)) return;  // Closed.
  StartRead(&request_);
}

void SubmitStreamReactor::OnReadDone(bool ok) {
  std::shared_ptr<Shared> shared = shared_;
  if (!ok) {
    // The client has sent everything: end once the acks are out and every
    // watched job has ended.
    {
      std::lock_guard lock(read_mu_);
      read_done_ = true;
    }
    ctx_->core->EndStream(shared->watcher);
    return;
  }
  v1::SubmitAck ack;
  ack.set_client_ref(request_.client_ref());
  v1::JobSpec spec = std::move(*request_.mutable_job());
  absl::Status valid = Admit(*ctx_, caller_, spec, &request_.watch_states());
  if (valid.ok()) valid = RefusalStatus(*ctx_);
  bool posted;
  if (!valid.ok()) {
    // Answered on the core, which owns the stream's writes.
    ack.mutable_result()->set_code(static_cast<int32_t>(valid.code()));
    ack.mutable_result()->set_message(std::string(valid.message()));
    posted = ctx_->core->Run([shared, ack = std::move(ack)] {
      shared->outbound->AddAck(ack);
      shared->outbound->Flush();
    });
  } else {
    // Acked once durable; the job's events follow its ack.
    posted = ctx_->core->SubmitOnStream(
        shared->watcher, std::move(spec), request_.watch(),
        events::EventHub::MaskOf(request_.watch_states()),
        [shared, ack = std::move(ack)](const absl::Status& s,
                                       const core::SubmitOutcome& out) mutable {
          if (!s.ok()) {
            ack.mutable_result()->set_code(static_cast<int32_t>(s.code()));
            ack.mutable_result()->set_message(std::string(s.message()));
          } else {
            ack.mutable_result()->set_job_id(core::FormatJobId(out.seq));
            ack.mutable_result()->set_duplicate(out.duplicate);
          }
          return shared->outbound->AddAck(ack);
        });
  }
  if (!posted) {
    shared_->outbound->Close(Unavailable());
    return;
  }
  bool read_more;
  {
    std::lock_guard lock(read_mu_);
    read_more = ++unacked_ < kMaxUnacked;
    read_paused_ = !read_more;
  }
  if (read_more) StartRead(&request_);
}

void SubmitStreamReactor::OnAcksWritten(size_t acks) {
  bool resume = false;
  {
    std::lock_guard lock(read_mu_);
    unacked_ -= static_cast<int>(acks);
    if (read_paused_ && !read_done_ && unacked_ < kMaxUnacked / 2) {
      read_paused_ = false;
      resume = true;
    }
  }
  if (resume) StartRead(&request_);
}

void SubmitStreamReactor::OnCancel() {
  shared_->outbound->Close(
      grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  ctx_->core->Unsubscribe(shared_->watcher);
}

void SubmitStreamReactor::OnDone() {
  ctx_->core->Unsubscribe(shared_->watcher);
  ctx_->streams.Closed();
  delete this;
}

}  // namespace jobq::api
