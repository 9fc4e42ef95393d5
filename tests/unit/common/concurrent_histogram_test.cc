#include "common/concurrent_histogram.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "common/channel.h"
#include "common/latency_hops.h"

namespace jobq {
namespace {

TEST(ConcurrentHistogramTest, ThreadsRecordingAtOnceLoseNothing) {
  ConcurrentHistogram shared;
  Histogram expected;
  constexpr int kThreads = 4;
  constexpr int kEach = 50'000;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; ++i) expected.Record(i % 1000 + t);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&shared, t] {
      for (int i = 0; i < kEach; ++i) shared.Record(i % 1000 + t);
    });
  }
  for (auto& th : threads) th.join();
  Histogram got = shared.Snapshot();
  EXPECT_EQ(got.Count(), expected.Count());
  EXPECT_EQ(got.Sum(), expected.Sum());
  EXPECT_EQ(got.Max(), expected.Max());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    EXPECT_EQ(got.Quantile(q), expected.Quantile(q)) << q;
  }
}

TEST(LatencyHopsTest, EveryHopHasANameAndHelp) {
  for (int i = 0; i < static_cast<int>(Hop::kCount); ++i) {
    const HopInfo& info = InfoOf(static_cast<Hop>(i));
    EXPECT_FALSE(info.name.empty()) << i;
    EXPECT_FALSE(info.help.empty()) << i;
  }
}

TEST(LatencyHopsTest, AChannelTimesEachPostUntilItsOwnerTakesIt) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  LatencyHops hops;
  std::vector<int> got;
  Channel<int> channel(
      &loop,
      [&](std::vector<int>& batch) {
        for (int v : batch) got.push_back(v);
      },
      &hops, Hop::kDispatch);
  channel.Post(1);
  std::vector<int> two = {2, 3};
  channel.PostMany(std::move(two));
  // Nothing is timed before the owner has taken the posts.
  EXPECT_EQ(hops.Snapshot(Hop::kDispatch).Count(), 0u);
  uv_run(&loop, UV_RUN_NOWAIT);
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
  // One time per post, not per item; nothing under another hop.
  EXPECT_EQ(hops.Snapshot(Hop::kDispatch).Count(), 2u);
  EXPECT_EQ(hops.Snapshot(Hop::kReceive).Count(), 0u);
  channel.Close();
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

}  // namespace
}  // namespace jobq
