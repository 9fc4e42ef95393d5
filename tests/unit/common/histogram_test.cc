#include "common/histogram.h"

#include <gtest/gtest.h>

namespace jobq {
namespace {

TEST(HistogramTest, EmptyHistogramReportsZero) {
  Histogram h;
  EXPECT_EQ(h.Quantile(0.5), 0);
  EXPECT_EQ(h.Max(), 0);
  EXPECT_EQ(h.Count(), 0u);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (int v = 1; v <= 10; ++v) h.Record(v);
  EXPECT_EQ(h.Quantile(0.5), 5);
  EXPECT_EQ(h.Quantile(1.0), 10);
  EXPECT_EQ(h.Max(), 10);
}

TEST(HistogramTest, QuantilesAreWithinOneSixteenth) {
  Histogram h;
  for (int64_t v = 1; v <= 100'000; ++v) h.Record(v);
  for (double q : {0.5, 0.9, 0.99}) {
    double want = q * 100'000;
    double got = static_cast<double>(h.Quantile(q));
    EXPECT_GE(got, want) << q;
    EXPECT_LE(got, want * (1 + 1.0 / 16)) << q;
  }
  EXPECT_EQ(h.Max(), 100'000);
}

TEST(HistogramTest, MergeAddsCounts) {
  Histogram a, b;
  a.Record(10);
  b.Record(1'000'000);
  a.Merge(b);
  EXPECT_EQ(a.Count(), 2u);
  EXPECT_EQ(a.Max(), 1'000'000);
  EXPECT_EQ(a.Quantile(0.5), 10);
}

TEST(HistogramTest, CountAtOrBelowAndSumServeCumulativeBuckets) {
  Histogram h;
  for (int64_t v : {1, 5, 100, 1000, 1000, 5000}) h.Record(v);
  EXPECT_EQ(h.CountAtOrBelow(0), 0u);
  EXPECT_EQ(h.CountAtOrBelow(5), 2u);
  EXPECT_EQ(h.CountAtOrBelow(1023), 5u);  // 1000 lies in [992, 1023].
  EXPECT_EQ(h.CountAtOrBelow(1 << 20), 6u);
  EXPECT_EQ(h.Sum(), 7106);
}

TEST(HistogramTest, NegativeValuesCountAsZero) {
  Histogram h;
  h.Record(-5);
  EXPECT_EQ(h.Quantile(1.0), 0);
}

TEST(HistogramTest, SinceLeavesWhatWasRecordedInBetween) {
  Histogram h;
  for (int i = 0; i < 100; ++i) h.Record(5000);  // Before.
  Histogram earlier = h;
  for (int i = 0; i < 10; ++i) h.Record(20);
  Histogram between = h.Since(earlier);
  EXPECT_EQ(between.Count(), 10u);
  EXPECT_EQ(between.Sum(), 200);
  EXPECT_EQ(between.Quantile(0.99), 20);
  // The max of the later snapshot (5000) lies outside the delta's buckets.
  EXPECT_EQ(between.Max(), 20);
  EXPECT_EQ(h.Since(h).Count(), 0u);
}

TEST(HistogramTest, BucketsRebuildTheSameQuantiles) {
  Histogram h;
  for (int64_t v = 1; v <= 100000; v = v * 3 / 2 + 1) h.Record(v);
  Histogram copy;
  uint64_t buckets = 0;
  int64_t last = -1;
  h.ForEachBucket([&](int64_t bound, uint64_t count) {
    EXPECT_GT(bound, last);  // Increasing.
    last = bound;
    ++buckets;
    copy.Record(bound, count);
  });
  EXPECT_GT(buckets, 10u);
  EXPECT_EQ(copy.Count(), h.Count());
  // Below the top bucket (whose bound may exceed the exact max) every
  // quantile is the same.
  for (double q : {0.1, 0.5, 0.9}) {
    EXPECT_EQ(copy.Quantile(q), h.Quantile(q)) << q;
  }
}

}  // namespace
}  // namespace jobq
