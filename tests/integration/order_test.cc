// Run order and concurrency of the real jobqd.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

TEST(OrderTest, PausedQueueWithLimitOneStartsInPriorityThenFifoOrder) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();
  ASSERT_TRUE(c.PauseQueue("ordered").ok());
  ASSERT_TRUE(c.SetQueueLimits("ordered", 1).ok());

  constexpr int kJobs = 1000;
  std::mt19937 rng(2024);
  std::vector<v1::JobSpec> specs;
  for (int i = 0; i < kJobs; ++i) {
    specs.push_back(
        MakeSpec("noop", "ordered", "", static_cast<int32_t>(rng() % 10) - 5));
  }
  auto submitted = c.SubmitBatch(specs);
  ASSERT_TRUE(submitted.ok());
  // Expected: priority descending, then submission order.
  std::vector<int> want(kJobs);
  for (int i = 0; i < kJobs; ++i) want[static_cast<size_t>(i)] = i;
  std::stable_sort(want.begin(), want.end(), [&](int a, int b) {
    return specs[static_cast<size_t>(a)].priority() >
           specs[static_cast<size_t>(b)].priority();
  });
  absl::flat_hash_map<std::string, int> index_of;
  for (int i = 0; i < kJobs; ++i) index_of[submitted->results(i).job_id()] = i;

  std::vector<int> started;
  v1::WatchRequest watch;
  watch.set_queue("ordered");
  std::thread resume;
  int ready = 0, succeeded = 0;
  absl::Status s = c.Watch(watch, [&](const v1::JobEvent& e) {
    // The current states (all READY) come first; then the queue resumes.
    if (e.state() == v1::JOB_STATE_READY && ++ready == kJobs) {
      resume = std::thread([&] { EXPECT_TRUE(c.ResumeQueue("ordered").ok()); });
    }
    if (e.state() == v1::JOB_STATE_RUNNING) {
      started.push_back(index_of[e.job_id()]);
    }
    if (e.state() == v1::JOB_STATE_SUCCEEDED) ++succeeded;
    return succeeded < kJobs;
  });
  if (resume.joinable()) resume.join();
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(started.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(started, want);
}

TEST(OrderTest, TenThousandOneSecondSleepsAllRunAtOnce) {
  // This watcher takes 40,000 events at once; it may buffer them all.
  auto jobqd = JobqdProcess::Start({"--stream-buffer", "100000"});
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();
  constexpr int kJobs = 10'000;
  ASSERT_TRUE(c.PauseQueue("nap").ok());
  std::vector<v1::JobSpec> specs(kJobs, MakeSpec("sleep", "nap", "1s"));
  auto submitted = c.SubmitBatch(specs);
  ASSERT_TRUE(submitted.ok());

  int ready = 0, running = 0, succeeded = 0, running_at_first_success = -1;
  std::thread resume;
  v1::WatchRequest watch;
  watch.set_queue("nap");
  absl::Status s = c.Watch(watch, [&](const v1::JobEvent& e) {
    switch (e.state()) {
      case v1::JOB_STATE_READY:
        if (++ready == kJobs) {
          resume = std::thread([&] { EXPECT_TRUE(c.ResumeQueue("nap").ok()); });
        }
        break;
      case v1::JOB_STATE_RUNNING:
        ++running;
        break;
      case v1::JOB_STATE_SUCCEEDED:
        if (running_at_first_success < 0) running_at_first_success = running;
        ++succeeded;
        break;
      default:
        ADD_FAILURE() << "unexpected " << v1::JobState_Name(e.state());
    }
    return succeeded < kJobs;
  });
  if (resume.joinable()) resume.join();
  ASSERT_TRUE(s.ok()) << s;
  // Every job had started before the first one finished.
  EXPECT_EQ(running_at_first_success, kJobs);
  EXPECT_EQ(succeeded, kJobs);
}

}  // namespace
}  // namespace jobq::testing
