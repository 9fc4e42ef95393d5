#pragma once

#include <grpcpp/support/status.h>

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "api/validation.h"
#include "daemon/core_loop.h"
#include "events/outbound.h"
#include "store/wal.h"

namespace jobq::api {

// What every gRPC service of jobqd shares. Owned by the Daemon; outlives
// the gRPC server.
// Thread: read from gRPC threads; `shutting_down` is atomic.
struct ServiceContext {
  daemon::CoreLoop* core = nullptr;
  ValidationLimits limits;
  events::OutboundLimits outbound;
  std::atomic<bool> shutting_down{false};
  // Until the log has been replayed, RPCs are refused.
  std::atomic<bool> recovering{true};
  std::string version;
  store::Wal* wal = nullptr;  // Null in memory mode.
  int workers = 0;
  TimeUs started_at = 0;
};

inline grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

inline grpc::Status Unavailable() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "jobqd is shutting down");
}

// Why new work is refused now, if it is: UNAVAILABLE while jobqd recovers
// its log or shuts down; OK otherwise.
inline grpc::Status Refusal(const ServiceContext& ctx) {
  if (ctx.recovering.load()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "jobqd is recovering its write-ahead log");
  }
  if (ctx.shutting_down.load()) return Unavailable();
  return grpc::Status::OK;
}

}  // namespace jobq::api
