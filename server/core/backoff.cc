#include "core/backoff.h"

#include <algorithm>
#include <cmath>

#include "common/time_proto.h"

namespace jobq::core {

int MaxAttempts(const v1::RetryPolicy& policy) {
  return std::max(1, policy.max_attempts());
}

DurationUs RetryBackoff(const v1::RetryPolicy& policy, int failed_attempt,
                        double u) {
  DurationUs initial = policy.has_initial_backoff()
                           ? DurationFromProto(policy.initial_backoff())
                           : kDefaultInitialBackoff;
  DurationUs max = policy.has_max_backoff()
                       ? DurationFromProto(policy.max_backoff())
                       : kDefaultMaxBackoff;
  double multiplier =
      policy.multiplier() > 0 ? policy.multiplier() : kDefaultMultiplier;
  max = std::max(max, initial);
  // Computed in floating point and clamped before converting back, so that
  // a large attempt number cannot overflow.
  double wait = static_cast<double>(initial) *
                std::pow(multiplier, std::max(0, failed_attempt - 1));
  wait = std::min(wait, static_cast<double>(max));
  wait *= 1.0 - kJitterFraction * std::clamp(u, 0.0, 1.0);
  return static_cast<DurationUs>(wait);
}

}  // namespace jobq::core
