#pragma once

#include <grpcpp/server_context.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "auth/tokens.h"
#include "common/clock.h"

namespace jobq::auth {

// Who makes a call: the token it presented, or nobody in particular when
// jobqd runs without tokens.
struct Caller {
  std::shared_ptr<const TokenTable> table;  // Keeps `token` alive.
  const Token* token = nullptr;             // Null: tokens are off.

  bool MayUseQueue(absl::string_view queue) const {
    return token == nullptr || token->MayUseQueue(queue);
  }
  bool AllQueues() const { return token == nullptr || token->AllQueues(); }
  std::string name() const { return token ? token->name : "anonymous"; }
};

// A rate in jobs per second and the burst a bucket holds; 0: no limit.
struct RateLimit {
  double rate = 0;
  double burst = 0;
};

// Bearer tokens with roles, and the submit rate per token. Every RPC of
// jobqd (but health) asks it first: Authenticate for the service's role,
// then CheckQueue for the queues the call touches.
// Thread: any.
class Authorizer {
 public:
  // `tokens` null: no tokens, every caller may do everything (the submit
  // rate still applies, to all callers as one).
  Authorizer(std::shared_ptr<const TokenTable> tokens, RateLimit submit_rate,
             const Clock* clock);

  bool enabled() const { return enabled_; }
  // Replaces the tokens (a reload of the file); calls in progress keep
  // the table they started with.
  void SetTokens(std::shared_ptr<const TokenTable> tokens);

  // The caller of `context`, if its "authorization: Bearer <token>" header
  // names a known token that has one of `roles` (Role bits).
  // UNAUTHENTICATED for a missing, malformed or unknown token;
  // PERMISSION_DENIED for a missing role.
  absl::StatusOr<Caller> Authenticate(const grpc::ServerContextBase& context,
                                      uint8_t roles);
  // The same from the value of an "authorization" header (null: none was
  // sent), for the HTTP listener.
  absl::StatusOr<Caller> AuthenticateHeader(
      std::optional<absl::string_view> header, uint8_t roles);
  // PERMISSION_DENIED naming `field` unless the caller's queue patterns
  // match `queue`.
  absl::Status CheckQueue(const Caller& caller, absl::string_view queue,
                          absl::string_view field);
  // The same for a call that would reach every queue (no queue named).
  absl::Status CheckAllQueues(const Caller& caller, absl::string_view field);

  // How many of `n` submits the caller's rate admits now (taken from its
  // bucket); the rest are refused with RateLimited().
  int TakeSubmits(const Caller& caller, int n);
  absl::Status RateLimited(const Caller& caller, absl::string_view field) const;

  uint64_t unauthenticated_total() const { return unauthenticated_.load(); }
  uint64_t denied_total() const { return denied_.load(); }
  uint64_t rate_limited_total() const { return rate_limited_.load(); }

 private:
  struct Bucket {
    double level = 0;
    TimeUs last = 0;
  };
  RateLimit LimitOf(const Caller& caller) const;
  absl::Status Denied(std::string message);

  const bool enabled_;
  const RateLimit default_rate_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::shared_ptr<const TokenTable> tokens_;          // Guarded by mu_.
  absl::flat_hash_map<std::string, Bucket> buckets_;  // Guarded by mu_.
  std::atomic<uint64_t> unauthenticated_{0};
  std::atomic<uint64_t> denied_{0};
  std::atomic<uint64_t> rate_limited_{0};
};

}  // namespace jobq::auth
