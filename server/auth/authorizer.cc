#include "auth/authorizer.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace jobq::auth {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

}  // namespace

Authorizer::Authorizer(std::shared_ptr<const TokenTable> tokens,
                       RateLimit submit_rate, const Clock* clock)
    : enabled_(tokens != nullptr),
      default_rate_(submit_rate),
      clock_(clock),
      tokens_(std::move(tokens)) {}

void Authorizer::SetTokens(std::shared_ptr<const TokenTable> tokens) {
  std::lock_guard lock(mu_);
  tokens_ = std::move(tokens);
}

absl::Status Authorizer::Denied(std::string message) {
  denied_.fetch_add(1, std::memory_order_relaxed);
  return absl::PermissionDeniedError(std::move(message));
}

absl::StatusOr<Caller> Authorizer::Authenticate(
    const grpc::ServerContextBase& context, uint8_t roles) {
  if (!enabled_) return Caller{};
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return AuthenticateHeader(std::nullopt, roles);
  return AuthenticateHeader(
      absl::string_view(it->second.data(), it->second.size()), roles);
}

absl::StatusOr<Caller> Authorizer::AuthenticateHeader(
    std::optional<absl::string_view> value, uint8_t roles) {
  if (!enabled_) return Caller{};
  if (!value.has_value()) {
    unauthenticated_.fetch_add(1, std::memory_order_relaxed);
    return absl::UnauthenticatedError(
        "authorization: missing; send the header \"authorization: Bearer "
        "<token>\"");
  }
  absl::string_view header = *value;
  if (!absl::StartsWith(header, kBearer) || header.size() == kBearer.size()) {
    unauthenticated_.fetch_add(1, std::memory_order_relaxed);
    return absl::UnauthenticatedError(
        "authorization: not of the form \"Bearer <token>\"");
  }
  Caller caller;
  {
    std::lock_guard lock(mu_);
    caller.table = tokens_;
  }
  caller.token = caller.table->Find(header.substr(kBearer.size()));
  if (caller.token == nullptr) {
    unauthenticated_.fetch_add(1, std::memory_order_relaxed);
    return absl::UnauthenticatedError("authorization: unknown token");
  }
  if ((caller.token->roles & roles) == 0) {
    std::vector<std::string> names;
    for (Role r : {kSubmit, kRead, kAdmin, kWorker}) {
      if (roles & r) names.push_back(RoleName(r));
    }
    return Denied(absl::StrCat("token \"", caller.token->name,
                               "\" does not have the ",
                               absl::StrJoin(names, " or "), " role"));
  }
  return caller;
}

absl::Status Authorizer::CheckQueue(const Caller& caller,
                                    absl::string_view queue,
                                    absl::string_view field) {
  if (caller.MayUseQueue(queue)) return absl::OkStatus();
  return Denied(absl::StrCat(
      field, ": token \"", caller.token->name, "\" may not use queue \"", queue,
      "\" (its queues: ", caller.token->QueueList(), ")"));
}

absl::Status Authorizer::CheckAllQueues(const Caller& caller,
                                        absl::string_view field) {
  if (caller.AllQueues()) return absl::OkStatus();
  return Denied(absl::StrCat(field, ": token \"", caller.token->name,
                             "\" may use only some queues (",
                             caller.token->QueueList(), "); name one"));
}

RateLimit Authorizer::LimitOf(const Caller& caller) const {
  RateLimit limit = default_rate_;
  if (caller.token != nullptr && caller.token->submit_rate > 0) {
    limit.rate = caller.token->submit_rate;
    limit.burst = caller.token->submit_burst;
  }
  if (limit.rate > 0 && limit.burst <= 0)
    limit.burst = std::max(limit.rate, 1.0);
  return limit;
}

int Authorizer::TakeSubmits(const Caller& caller, int n) {
  RateLimit limit = LimitOf(caller);
  if (limit.rate <= 0 || n <= 0) return n;
  TimeUs now = clock_->Now();
  int granted;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = buckets_.try_emplace(caller.name());
    Bucket& b = it->second;
    if (inserted) {
      b.level = limit.burst;
    } else if (now > b.last) {
      b.level =
          std::min(limit.burst,
                   b.level + limit.rate * static_cast<double>(now - b.last) /
                                 static_cast<double>(kSecond));
    }
    b.last = std::max(b.last, now);
    granted = static_cast<int>(std::min<double>(n, b.level));
    b.level -= granted;
  }
  if (granted < n) {
    rate_limited_.fetch_add(n - granted, std::memory_order_relaxed);
  }
  return granted;
}

absl::Status Authorizer::RateLimited(const Caller& caller,
                                     absl::string_view field) const {
  RateLimit limit = LimitOf(caller);
  return absl::ResourceExhaustedError(
      absl::StrCat(field, ": \"", caller.name(), "\" may submit ", limit.rate,
                   " jobs/s (burst ", limit.burst, "); retry later"));
}

}  // namespace jobq::auth
