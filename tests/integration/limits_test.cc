// Limits that hold under load: max_queued per queue.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

using ::testing::HasSubstr;

TEST(LimitsTest, AFullQueueRefusesEverySubmitPathAndTheRestIsServed) {
  const std::string dir = TempPath("data");
  auto jobqd = JobqdProcess::Start({"--data-dir", dir, "--max-queued", "5"});
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();
  // The queue's own limit (2) wins over --max-queued (5).
  ASSERT_TRUE(c.PauseQueue("small").ok());
  CommandRun limit = jobqd->Ctl("limit small 0 --max-queued 2");
  ASSERT_EQ(limit.exit_code, 0) << limit.out;
  EXPECT_THAT(limit.out, ::testing::ContainsRegex("small +yes .* 2\n"));
  ASSERT_TRUE(c.Submit(MakeSpec("noop", "small")).ok());
  ASSERT_TRUE(c.Submit(MakeSpec("noop", "small")).ok());
  absl::Status full = c.Submit(MakeSpec("noop", "small")).status();
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message(),
            "job.queue: the queue holds 2 unfinished jobs, its max_queued; "
            "retry later");
  auto batch = c.SubmitBatch({MakeSpec("noop", "small"), MakeSpec("noop")});
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->results(0).code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(batch->results(0).message(), HasSubstr("jobs[0].queue:"));
  EXPECT_EQ(batch->results(1).code(), 0);  // Another queue: served.
  absl::Status watched =
      c.SubmitAndWatch(MakeSpec("noop", "small"), [](auto&) { return true; });
  EXPECT_EQ(watched.code(), absl::StatusCode::kResourceExhausted);
  CommandRun refused = jobqd->Ctl("submit --kind noop --queue small");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.out, HasSubstr("RESOURCE_EXHAUSTED: job.queue:"));
  // The server-wide limit holds for queues without their own.
  ASSERT_TRUE(c.PauseQueue("big").ok());
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(c.Submit(MakeSpec("noop", "big")).ok());
  EXPECT_EQ(c.Submit(MakeSpec("noop", "big")).status().code(),
            absl::StatusCode::kResourceExhausted);
  auto stats = c.ListQueues();
  ASSERT_TRUE(stats.ok());
  for (const auto& q : stats->queues()) {
    if (q.name() == "small") {
      EXPECT_EQ(q.max_queued(), 2);
      EXPECT_EQ(q.refused_total(), 4u);
    }
  }
  // Bad values are refused with the field named.
  auto negative = c.SetQueueLimits("small", 0, -1);
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(negative.status().message()),
              HasSubstr("max_queued:"));
  // The limit survives a restart; running the jobs makes room.
  EXPECT_EQ(jobqd->Stop(SIGTERM), 0);
  jobqd = JobqdProcess::Start({"--data-dir", dir});
  ASSERT_NE(jobqd, nullptr);
  auto& again = jobqd->client();
  EXPECT_EQ(again.Submit(MakeSpec("noop", "small")).status().code(),
            absl::StatusCode::kResourceExhausted);
  // Both jobs end: a watch of the queue, in place before the queue is
  // resumed, sees two SUCCEEDED events.
  v1::WatchRequest req;
  req.set_queue("small");
  req.add_states(v1::JOB_STATE_SUCCEEDED);
  grpc::ClientContext ctx;
  auto watch = again.jobs().Watch(&ctx, req);
  v1::WatchResponse m;
  ASSERT_TRUE(watch->Read(&m));  // The opening message.
  ASSERT_TRUE(again.ResumeQueue("small").ok());
  int done = 0;
  while (done < 2 && watch->Read(&m)) {
    for (const auto& e : m.events()) {
      if (e.state() == v1::JOB_STATE_SUCCEEDED) ++done;
    }
  }
  ctx.TryCancel();
  EXPECT_EQ(done, 2);
  EXPECT_TRUE(again.Submit(MakeSpec("noop", "small")).ok());
}

}  // namespace
}  // namespace jobq::testing
