#include "client/failover.h"

#include <cctype>

namespace jobq::client {

std::vector<std::string> SplitAddresses(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view part = list.substr(0, comma);
    list.remove_prefix(comma == std::string_view::npos ? list.size()
                                                       : comma + 1);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part[0]))) {
      part.remove_prefix(1);
    }
    while (!part.empty() &&
           std::isspace(static_cast<unsigned char>(part.back()))) {
      part.remove_suffix(1);
    }
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

bool IsConnectFailure(std::string_view message) {
  // gRPC 1.51's pick_first when no subchannel connects (refused, timed
  // out, TLS handshake failed), and its resolvers' failures: in each case
  // the call was failed by the pick, before it was sent anywhere.
  return message.starts_with("failed to connect to all addresses") ||
         message.starts_with("DNS resolution failed") ||
         message.starts_with("empty address list");
}

AttemptFailure ClassifyFailure(const absl::Status& status, bool leader_named) {
  if (status.code() != absl::StatusCode::kUnavailable) {
    return AttemptFailure::kAnswered;
  }
  // Debian's abseil has a string_view of its own.
  const std::string_view message(status.message().data(),
                                 status.message().size());
  if (leader_named || message.starts_with(kStandbyMessagePrefix)) {
    return AttemptFailure::kRefusedByStandby;
  }
  if (IsConnectFailure(message)) return AttemptFailure::kNotConnected;
  return AttemptFailure::kMaybeDelivered;
}

FailoverWalk::FailoverWalk(size_t nodes, size_t first, RetryPolicy policy)
    : policy_(policy), current_(first), tried_(nodes, false) {
  tried_[first] = true;
}

std::optional<size_t> FailoverWalk::Go(size_t node) {
  current_ = node;
  tried_[node] = true;
  ++attempts_;
  return node;
}

std::optional<size_t> FailoverWalk::Next(AttemptFailure failure,
                                         std::optional<size_t> named,
                                         size_t nodes) {
  switch (failure) {
    case AttemptFailure::kAnswered:
      return std::nullopt;
    case AttemptFailure::kMaybeDelivered:
      if (policy_ == RetryPolicy::kIfNotDelivered) return std::nullopt;
      break;
    case AttemptFailure::kRefusedByStandby:
    case AttemptFailure::kNotConnected:
      break;
  }
  if (tried_.size() < nodes) tried_.resize(nodes, false);
  if (named && *named < nodes) {
    if (!tried_[*named]) return Go(*named);
    if (!named_again_) {
      named_again_ = true;
      return Go(*named);
    }
  }
  // The nodes after the current one, in order, wrapping round: those not
  // tried yet.
  for (size_t step = 1; step < nodes; ++step) {
    size_t node = (current_ + step) % nodes;
    if (!tried_[node]) return Go(node);
  }
  return std::nullopt;
}

size_t NodeAfterStreamEnd(AttemptFailure failure, size_t current,
                          std::optional<size_t> named, size_t nodes) {
  if (named && *named < nodes) return *named;
  if (failure == AttemptFailure::kAnswered) return current;
  return (current + 1) % nodes;
}

}  // namespace jobq::client
