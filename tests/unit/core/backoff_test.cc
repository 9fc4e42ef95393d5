#include "core/backoff.h"

#include <gtest/gtest.h>

namespace jobq::core {
namespace {

v1::RetryPolicy Policy(int64_t initial_ms, int64_t max_ms, double mult) {
  v1::RetryPolicy p;
  p.set_max_attempts(10);
  p.mutable_initial_backoff()->set_seconds(initial_ms / 1000);
  p.mutable_initial_backoff()->set_nanos(
      static_cast<int32_t>((initial_ms % 1000) * 1'000'000));
  p.mutable_max_backoff()->set_seconds(max_ms / 1000);
  p.set_multiplier(mult);
  return p;
}

TEST(BackoffTest, GrowsByTheMultiplierPerAttempt) {
  auto p = Policy(100, 60'000, 3.0);
  EXPECT_EQ(RetryBackoff(p, 1, 0.0), 100 * kMillisecond);
  EXPECT_EQ(RetryBackoff(p, 2, 0.0), 300 * kMillisecond);
  EXPECT_EQ(RetryBackoff(p, 3, 0.0), 900 * kMillisecond);
}

TEST(BackoffTest, IsCappedByMaxBackoff) {
  auto p = Policy(1000, 5000, 2.0);
  EXPECT_EQ(RetryBackoff(p, 3, 0.0), 4 * kSecond);
  EXPECT_EQ(RetryBackoff(p, 4, 0.0), 5 * kSecond);
  EXPECT_EQ(RetryBackoff(p, 99, 0.0), 5 * kSecond);
}

TEST(BackoffTest, JitterTakesAtMostTwentyPercentOff) {
  auto p = Policy(1000, 60'000, 2.0);
  EXPECT_EQ(RetryBackoff(p, 1, 0.5), 900 * kMillisecond);
  EXPECT_EQ(RetryBackoff(p, 1, 0.999999), 800 * kMillisecond);
  EXPECT_GE(RetryBackoff(p, 1, 1.0), 800 * kMillisecond);
}

TEST(BackoffTest, UnsetFieldsTakeDefaults) {
  v1::RetryPolicy p;
  EXPECT_EQ(MaxAttempts(p), 1);
  EXPECT_EQ(RetryBackoff(p, 1, 0.0), kDefaultInitialBackoff);
  EXPECT_EQ(RetryBackoff(p, 2, 0.0), 2 * kDefaultInitialBackoff);
  EXPECT_EQ(RetryBackoff(p, 30, 0.0), kDefaultMaxBackoff);
}

}  // namespace
}  // namespace jobq::core
