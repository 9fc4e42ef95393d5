#include "api/worker_service.h"

#include "absl/strings/str_cat.h"
#include "api/validation.h"

namespace jobq::api {
namespace {

constexpr int kMaxWorkerKinds = 64;
constexpr int kMaxWorkerQueues = 256;
constexpr int kMaxConcurrency = 10'000;
constexpr size_t kMaxWorkerId = 128;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("hello.", field, ": ", what));
}

}  // namespace

absl::Status ValidateHello(const v1::WorkerHello& hello) {
  const std::string& id = hello.worker_id();
  if (id.size() > kMaxWorkerId) {
    return Invalid("worker_id",
                   absl::StrCat("longer than ", kMaxWorkerId, " bytes"));
  }
  for (char c : id) {
    if (c <= ' ' || c > '~') {
      return Invalid("worker_id", "only printable characters, no spaces");
    }
  }
  if (hello.kinds_size() == 0) {
    return Invalid("kinds", "name at least one kind the worker runs");
  }
  if (hello.kinds_size() > kMaxWorkerKinds) {
    return Invalid("kinds", absl::StrCat("more than ", kMaxWorkerKinds));
  }
  for (int i = 0; i < hello.kinds_size(); ++i) {
    if (!IsValidKindName(hello.kinds(i))) {
      return Invalid(absl::StrCat("kinds[", i, "]"),
                     absl::StrCat(Quoted(hello.kinds(i)), " does not match ",
                                  kKindPattern));
    }
  }
  if (hello.queues_size() > kMaxWorkerQueues) {
    return Invalid("queues", absl::StrCat("more than ", kMaxWorkerQueues));
  }
  for (int i = 0; i < hello.queues_size(); ++i) {
    if (!IsValidQueueName(hello.queues(i))) {
      return Invalid(absl::StrCat("queues[", i, "]"),
                     absl::StrCat(Quoted(hello.queues(i)), " does not match ",
                                  kQueuePattern));
    }
  }
  if (hello.concurrency() < 0 || hello.concurrency() > kMaxConcurrency) {
    return Invalid("concurrency",
                   absl::StrCat("must be between 1 and ", kMaxConcurrency));
  }
  return absl::OkStatus();
}

WorkReactor::WorkReactor(ServiceContext* ctx, std::string peer,
                         absl::StatusOr<auth::Caller> caller)
    : ctx_(ctx),
      peer_(std::move(peer)),
      caller_(std::move(caller)),
      shared_(std::make_shared<Shared>()) {
  ctx_->streams.Opened();
  shared_->reactor = this;
  // Assignments are bounded by the worker's capacity, not by the budget
  // of event streams (which cuts only those).
  events::OutboundLimits limits = ctx_->outbound;
  limits.budget = nullptr;
  shared_->outbound = std::make_shared<remote::WorkerStream>(this, limits);
  shared_->link = std::make_shared<engine::WorkerLink>(shared_->outbound);
  if (!caller_.ok()) {
    shared_->outbound->Close(ToGrpc(caller_.status()));
    return;
  }
  if (grpc::Status refused = Refusal(*ctx_); !refused.ok()) {
    shared_->outbound->Close(refused);
    return;
  }
  StartRead(&message_);
}

absl::Status WorkReactor::CheckQueues(const v1::WorkerHello& hello) const {
  if (hello.queues_size() == 0) {
    return ctx_->auth->CheckAllQueues(*caller_, "hello.queues");
  }
  for (int i = 0; i < hello.queues_size(); ++i) {
    if (absl::Status s = ctx_->auth->CheckQueue(
            *caller_, hello.queues(i), absl::StrCat("hello.queues[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

void WorkReactor::OnReadDone(bool ok) {
  if (!ok) {
    // The worker closed its side (or the stream broke): its jobs go back,
    // and the stream ends after anything the core still sends (such as
    // the answer to its hello).
    PostGone(grpc::Status::OK);
    return;
  }
  if (!hello_seen_) {
    absl::Status valid = message_.has_hello()
                             ? ValidateHello(message_.hello())
                             : absl::InvalidArgumentError(
                                   "hello: the first message must carry it");
    if (valid.ok()) valid = CheckQueues(message_.hello());
    if (!valid.ok()) {
      shared_->outbound->Close(ToGrpc(valid));
      return;
    }
    hello_seen_ = true;
  } else if (message_.has_hello()) {
    shared_->outbound->Close(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello: sent twice"));
    PostGone(std::nullopt);
    return;
  }
  if (!PostMessage()) shared_->outbound->Close(Unavailable());
}

bool WorkReactor::PostMessage() {
  std::shared_ptr<Shared> shared = shared_;
  {
    std::lock_guard lock(shared->read_mu);
    ++shared->unprocessed;
  }
  bool posted =
      ctx_->core->WorkerMessage(shared->link, peer_, std::move(message_),
                                [shared] { Processed(*shared); });
  if (!posted) return false;
  message_.Clear();
  std::lock_guard lock(shared->read_mu);
  if (shared->unprocessed >= kMaxUnprocessed) {
    shared->read_paused = true;
  } else {
    StartRead(&message_);
  }
  return true;
}

void WorkReactor::Processed(Shared& shared) {
  // Under the lock, so that OnDone cannot delete the reactor meanwhile.
  std::lock_guard lock(shared.read_mu);
  --shared.unprocessed;
  if (shared.read_paused && shared.reactor != nullptr &&
      shared.unprocessed <= kMaxUnprocessed / 2) {
    shared.read_paused = false;
    shared.reactor->StartRead(&shared.reactor->message_);
  }
}

void WorkReactor::PostGone(std::optional<grpc::Status> close) {
  bool posted = ctx_->core->WorkerGone(shared_->link, close);
  if (!posted && close) shared_->outbound->Close(*close);
}

void WorkReactor::OnCancel() {
  shared_->outbound->Close(
      grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the worker"));
  PostGone(std::nullopt);
}

void WorkReactor::OnDone() {
  {
    std::lock_guard lock(shared_->read_mu);
    shared_->reactor = nullptr;
  }
  PostGone(std::nullopt);
  ctx_->streams.Closed();
  delete this;
}

}  // namespace jobq::api
