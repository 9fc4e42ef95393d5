#pragma once

#include "common/clock.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::core {

// Defaults and bounds of a RetryPolicy.
inline constexpr int kMaxAttemptsLimit = 100;
inline constexpr DurationUs kDefaultInitialBackoff = 1 * kSecond;
inline constexpr DurationUs kDefaultMaxBackoff = 300 * kSecond;
inline constexpr double kDefaultMultiplier = 2.0;
inline constexpr double kJitterFraction = 0.2;

// Total runs a policy allows (at least 1).
int MaxAttempts(const v1::RetryPolicy& policy);

// The wait before attempt `failed_attempt + 1`, after run number
// `failed_attempt` (counting from 1) failed:
//   min(initial * multiplier^(failed_attempt - 1), max) * (1 - jitter * u)
// where `u` in [0, 1) is supplied by the caller, so that the result is
// deterministic and can be recorded in a transition.
DurationUs RetryBackoff(const v1::RetryPolicy& policy, int failed_attempt,
                        double u);

}  // namespace jobq::core
