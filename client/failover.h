#pragma once

// How one client call finds the leader of a jobqd cluster: which node each
// attempt goes to, and when a failed attempt may be tried on another. Pure
// logic, no I/O: the Client (client.cc) and the Worker (worker.cc) run the
// calls and feed each failure in here.
//
// A standby refuses every jobq.v1 call with UNAVAILABLE, the message
// "jobqd is a standby; the leader is HOST:PORT" (or "...; no leader yet")
// and trailing metadata `jobq-leader: HOST:PORT` naming the leader (absent
// when it knows none).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace jobq::client {

// The trailing metadata key in which a standby names the leader.
inline constexpr char kLeaderMetadataKey[] = "jobq-leader";
// How a standby's refusal starts.
inline constexpr std::string_view kStandbyMessagePrefix = "jobqd is a standby";

// "a:7070, b:7070,,c:7070" -> {"a:7070", "b:7070", "c:7070"}: split at
// commas, spaces trimmed, empty entries dropped.
std::vector<std::string> SplitAddresses(std::string_view list);

// What a failed attempt says about where the call went.
enum class AttemptFailure {
  // A node answered as the leader does (any code but UNAVAILABLE): the
  // call's outcome, never tried elsewhere.
  kAnswered,
  // A standby refused the call: it did nothing, and may name the leader.
  kRefusedByStandby,
  // The channel never connected (no address reachable, a failed
  // handshake, a name that did not resolve): the call was never sent.
  kNotConnected,
  // UNAVAILABLE otherwise (a connection that broke mid-call, a leader
  // shutting down): the call may have reached the leader and taken effect.
  kMaybeDelivered,
};

// Classifies one attempt's failure from its status and whether its
// trailing metadata named a leader.
AttemptFailure ClassifyFailure(const absl::Status& status, bool leader_named);

// True for the messages gRPC gives a call that failed before any
// connection was made to send it on: the pick found no ready connection
// ("failed to connect to all addresses; ..."), or the name did not resolve.
bool IsConnectFailure(std::string_view message);

// Which calls may go to another node after a failure.
enum class RetryPolicy {
  // Reads: after any UNAVAILABLE.
  kAlways,
  // State-changing calls (submit, cancel, pause, ...): only when the
  // failure proves the call did nothing (kRefusedByStandby, kNotConnected),
  // so that a job is never submitted twice.
  kIfNotDelivered,
};

// One call's walk across the nodes of a cluster: the node of each attempt.
// Bounded: each node is tried at most once, plus one more attempt on a
// leader that a standby named after it had been tried (it may have taken
// over since); so a call makes at most (nodes + 1) attempts.
// Thread: one call's; copyable.
class FailoverWalk {
 public:
  // `first`: the node of the first attempt, one of `nodes`.
  FailoverWalk(size_t nodes, size_t first, RetryPolicy policy);

  // The node the current attempt goes to.
  size_t current() const { return current_; }
  size_t attempts() const { return attempts_; }

  // After the attempt on current() failed with `failure`: the node of the
  // next attempt (it becomes current()), or nullopt to return the failure.
  // `named`: the node (index) the refusal named as leader, when it named
  // one the caller could reach (the caller adds an unknown address to the
  // cluster first); `nodes`: the nodes known now (only ever grows).
  std::optional<size_t> Next(AttemptFailure failure,
                             std::optional<size_t> named, size_t nodes);

 private:
  std::optional<size_t> Go(size_t node);

  RetryPolicy policy_;
  size_t current_;
  size_t attempts_ = 1;
  std::vector<bool> tried_;   // By node; grows with the cluster.
  bool named_again_ = false;  // The extra attempt on a named leader is used.
};

// The node a long-lived stream (the Worker's) opens its next session on,
// after one on `current` ended with `failure`: the leader a standby named
// (`named`, as for FailoverWalk::Next), else after any UNAVAILABLE the next
// node (it was down, or a standby that knew no leader), else the same.
size_t NodeAfterStreamEnd(AttemptFailure failure, size_t current,
                          std::optional<size_t> named, size_t nodes);

}  // namespace jobq::client
