#include "api/watch_reactor.h"

#include "core/job.h"
#include "events/event_hub.h"

namespace jobq::api {
namespace {

// Posts the end of a subscription to the core.
template <typename Shared>
void PostUnsubscribe(ServiceContext* ctx, const std::shared_ptr<Shared>& s) {
  ctx->core->Post([s](daemon::CoreContext& core) {
    if (s->subscription != 0) core.hub.Unsubscribe(s->subscription);
    s->subscription = 0;
  });
}

}  // namespace

WatchReactor::WatchReactor(ServiceContext* ctx, Start start)
    : ctx_(ctx), shared_(std::make_shared<Shared>(this, ctx->outbound)) {
  ctx_->streams.Opened();
  std::shared_ptr<Shared> shared = shared_;
  bool posted = ctx_->core->Post(
      [shared, start = std::move(start)](daemon::CoreContext& core) mutable {
        start(core, shared);
        shared->outbound->Flush();
      });
  if (!posted) shared_->outbound->Close(Unavailable());
}

WatchReactor::WatchReactor(ServiceContext* ctx, const grpc::Status& status)
    : ctx_(ctx), shared_(std::make_shared<Shared>(this, ctx->outbound)) {
  ctx_->streams.Opened();
  shared_->outbound->Close(status);
}

void WatchReactor::OnCancel() {
  shared_->outbound->Close(
      grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  PostUnsubscribe(ctx_, shared_);
}

void WatchReactor::OnDone() {
  PostUnsubscribe(ctx_, shared_);
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
  std::shared_ptr<Shared> shared = shared_;
  if (grpc::Status refused = Refusal(*ctx_); !refused.ok()) {
    shared_->outbound->Close(refused);
    return;
  }
  if (!ctx_->core->Post([shared](daemon::CoreContext& core) {
        shared->subscription = core.hub.Subscribe(shared->outbound);
      })) {
    shared_->outbound->Close(Unavailable());
    return;
  }
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
    ctx_->core->Post([shared](daemon::CoreContext& core) {
      // After the acks of every earlier request (an empty submit is
      // answered in order with them).
      core.loop.Submit({}, core.now,
                       [shared](daemon::CoreContext& core, const absl::Status&,
                                const std::vector<core::SubmitOutcome>&) {
                         if (shared->subscription != 0) {
                           core.hub.CloseWhenDone(shared->subscription);
                         } else {
                           shared->outbound->Close(grpc::Status::OK);
                         }
                       });
    });
    return;
  }
  v1::SubmitAck ack;
  ack.set_client_ref(request_.client_ref());
  v1::JobSpec spec = std::move(*request_.mutable_job());
  absl::Status valid = ValidateSpec(spec, ctx_->limits);
  if (valid.ok()) {
    valid = ValidateStates(request_.watch_states(), "watch_states");
  }
  if (valid.ok()) {
    valid = ctx_->auth->CheckQueue(caller_, spec.queue(), "job.queue");
  }
  if (valid.ok() && ctx_->auth->TakeSubmits(caller_, 1) == 0) {
    valid = ctx_->auth->RateLimited(caller_, "job");
  }
  bool watch = request_.watch();
  events::EventHub::StateMask states =
      events::EventHub::MaskOf(request_.watch_states());
  if (!valid.ok()) {
    ack.mutable_result()->set_code(static_cast<int32_t>(valid.code()));
    ack.mutable_result()->set_message(std::string(valid.message()));
  } else if (grpc::Status refused = Refusal(*ctx_); !refused.ok()) {
    ack.mutable_result()->set_code(refused.error_code());
    ack.mutable_result()->set_message(refused.error_message());
  }
  bool submit = ack.result().code() == 0;
  bool posted = ctx_->core->Post(
      [shared, ack = std::move(ack), submit, watch, states,
       spec = std::move(spec)](daemon::CoreContext& core) mutable {
        if (!submit) {
          shared->outbound->AddAck(ack);
          shared->outbound->Flush();
          return;
        }
        std::vector<v1::JobSpec> specs;
        specs.push_back(std::move(spec));
        // Acked once durable; the job's events follow its ack.
        core.loop.Submit(
            std::move(specs), core.now,
            [shared, ack = std::move(ack), watch, states](
                daemon::CoreContext& core, const absl::Status& s,
                const std::vector<core::SubmitOutcome>& out) mutable {
              if (!s.ok() || out[0].refused()) {
                grpc::Status error =
                    s.ok() ? QueueFull("job.queue", out[0].full_at) : ToGrpc(s);
                ack.mutable_result()->set_code(error.error_code());
                ack.mutable_result()->set_message(error.error_message());
                shared->outbound->AddAck(ack);
                shared->outbound->Flush();
                return;
              }
              ack.mutable_result()->set_job_id(core::FormatJobId(out[0].seq));
              ack.mutable_result()->set_duplicate(out[0].duplicate);
              if (!shared->outbound->AddAck(ack)) return;
              const core::Job* job = core.scheduler.Find(out[0].seq);
              if (watch && shared->subscription != 0 && job != nullptr) {
                core.hub.WatchJob(shared->subscription, *job, states);
              }
              shared->outbound->Flush();
            });
      });
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
  PostUnsubscribe(ctx_, shared_);
}

void SubmitStreamReactor::OnDone() {
  PostUnsubscribe(ctx_, shared_);
  ctx_->streams.Closed();
  delete this;
}

}  // namespace jobq::api
