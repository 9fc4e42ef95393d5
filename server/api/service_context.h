#pragma once

#include <grpcpp/support/status.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/validation.h"
#include "auth/authorizer.h"
#include "common/task_thread.h"
#include "engine/core_api.h"
#include "events/outbound.h"
#include "events/stream_budget.h"

namespace jobq::api {

// Counts the streaming calls in progress, so that shutdown can wait for
// the ones it ended to finish before it stops the server: a stream still
// open when the server says GOAWAY keeps its client's connection, and the
// server's shutdown, waiting.
// Thread: any.
class OpenStreams {
 public:
  void Opened() {
    std::lock_guard lock(mu_);
    ++open_;
  }
  void Closed() {
    std::lock_guard lock(mu_);
    if (--open_ == 0) cv_.notify_all();
  }
  int open() {
    std::lock_guard lock(mu_);
    return open_;
  }
  // True when none is open within `timeout`.
  bool WaitNone(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return open_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int open_ = 0;  // Guarded by mu_.
};

// Where the leader of the cluster is, as a standby knows it (--postgres):
// named in every refusal, and in the `jobq-leader` trailing metadata.
// Thread: any.
class LeaderHint {
 public:
  void Set(std::string address) {
    std::lock_guard lock(mu_);
    address_ = std::move(address);
  }
  std::string address() const {
    std::lock_guard lock(mu_);
    return address_;
  }

 private:
  mutable std::mutex mu_;
  std::string address_;  // Guarded by mu_; empty: no leader known.
};

// The trailing metadata key of a standby's refusals: the leader's address.
inline constexpr char kLeaderMetadata[] = "jobq-leader";

// What every gRPC service of jobqd shares. Owned by the Daemon; outlives
// the gRPC server.
// Thread: read from gRPC threads; `shutting_down` is atomic.
struct ServiceContext {
  // The core's commands; owned by the Daemon.
  engine::CoreApi* core = nullptr;
  // Tokens and roles; owned by the Daemon.
  auth::Authorizer* auth = nullptr;
  ValidationLimits limits;
  events::OutboundLimits outbound;
  // All event streams' buffers together (--max-stream-memory);
  // outbound.budget points here.
  events::StreamBudget stream_budget;
  // Where a job's time goes, hop by hop (GetStats, /metrics); every
  // component that times a hop records here. outbound.hops points here.
  LatencyHops hops;
  std::atomic<bool> shutting_down{false};
  // Until the log has been replayed, RPCs are refused.
  std::atomic<bool> recovering{true};
  // A standby of a cluster on PostgreSQL: recovering until it leads.
  std::atomic<bool> standby{false};
  LeaderHint leader;
  std::string version;
  int workers = 0;
  OpenStreams streams;
  // Finishes the calls whose answers are large (ListJobs pages): their
  // serialisation and socket writes, at a lower OS priority than the core
  // and gRPC's threads, so that bulk reads yield the CPUs to submits and
  // acks. Null: those calls finish on the core thread like the rest.
  std::unique_ptr<TaskThread> bulk_replies;
  // Said at start and in GetStats: how this jobqd is less safe than it
  // could be (--insecure).
  std::vector<std::string> warnings;
};

using engine::ToGrpc;

using engine::Unavailable;

// A submit the core refused (engine::SubmitRefusal); `prefix` names the
// spec ("job.", "jobs[3].").
inline grpc::Status SubmitRefused(const core::SubmitOutcome& out,
                                  absl::string_view prefix) {
  return ToGrpc(engine::SubmitRefusal(out, prefix));
}

// Finishes a unary call with the facade's answer: `fill` puts the value
// into the response. Given `on`, that and the Finish (gRPC serialises the
// response, and may write it to the socket, in the thread that finishes)
// run there instead of on the thread that answers (the core).
template <typename T, typename Fill>
engine::Done<T> FinishWith(grpc::ServerUnaryReactor* reactor, Fill fill,
                           TaskThread* on = nullptr) {
  auto finish = [reactor, fill = std::move(fill)](absl::StatusOr<T> r) mutable {
    if (!r.ok()) {
      reactor->Finish(ToGrpc(r.status()));
      return;
    }
    fill(*std::move(r));
    reactor->Finish(grpc::Status::OK);
  };
  if (on == nullptr) return finish;
  return [on, finish = std::move(finish)](absl::StatusOr<T> r) mutable {
    if (!r.ok()) return finish(std::move(r));  // Nothing to build or send.
    on->Post([finish = std::move(finish), r = std::move(r)]() mutable {
      finish(std::move(r));
    });
  };
}

// Finishes a unary call whose response is the facade's value itself.
template <typename T>
engine::Done<T> FinishInto(grpc::ServerUnaryReactor* reactor, T* response) {
  return FinishWith<T>(reactor,
                       [response](T&& value) { *response = std::move(value); });
}

// Why new work is refused now, if it is: UNAVAILABLE while jobqd recovers
// its log, is a standby (naming the leader) or shuts down; OK otherwise.
inline absl::Status RefusalStatus(const ServiceContext& ctx) {
  if (ctx.recovering.load() && ctx.standby.load()) {
    std::string leader = ctx.leader.address();
    return absl::UnavailableError(
        leader.empty()
            ? std::string("jobqd is a standby; no leader yet")
            : absl::StrCat("jobqd is a standby; the leader is ", leader));
  }
  if (ctx.recovering.load()) {
    return absl::UnavailableError("jobqd is recovering its write-ahead log");
  }
  if (ctx.shutting_down.load()) return engine::Stopped();
  return absl::OkStatus();
}

inline grpc::Status Refusal(const ServiceContext& ctx) {
  return ToGrpc(RefusalStatus(ctx));
}

}  // namespace jobq::api
