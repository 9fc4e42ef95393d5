// Stream back-pressure and graceful shutdown of the real jobqd.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <thread>

#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

TEST(StreamsTest, ASlowWatcherIsCutOffWhileOthersContinue) {
  auto jobqd = JobqdProcess::Start({"--stream-buffer", "200"});
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();

  // The slow watcher opens its stream and reads nothing for now. Its own
  // connection keeps the HTTP/2 window at 64 KiB (no BDP probing), so gRPC
  // soon stops taking its messages and jobqd's buffer for it fills.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto slow_channel = grpc::CreateCustomChannel(
      jobqd->address(), grpc::InsecureChannelCredentials(), args);
  auto slow_stub = v1::JobService::NewStub(slow_channel);
  grpc::ClientContext slow_ctx;
  v1::WatchRequest watch;
  watch.set_queue("busy");
  auto slow = slow_stub->Watch(&slow_ctx, watch);
  v1::WatchResponse opening;
  ASSERT_TRUE(slow->Read(&opening));  // In place before any job exists.

  // The fast watcher reads everything; the producer waits for it after
  // each small batch (75 events: queued, running, succeeded), so at most
  // two batches count against its buffer of 200: the new one, and the last
  // one, whose write the client has read but jobqd may not yet have seen
  // complete.
  grpc::ClientContext fast_ctx;
  auto fast = c.jobs().Watch(&fast_ctx, watch);
  v1::WatchResponse msg;
  ASSERT_TRUE(fast->Read(&msg));  // The watch is in place.
  constexpr int kJobs = 20'000;
  constexpr int kBatch = 25;
  std::vector<v1::JobSpec> batch(kBatch, MakeSpec("noop", "busy"));
  int done = 0;
  for (int i = 0; i < kJobs / kBatch; ++i) {
    ASSERT_TRUE(c.SubmitBatch(batch).ok());
    while (done < (i + 1) * kBatch && fast->Read(&msg)) {
      for (const auto& e : msg.events()) {
        if (e.state() == v1::JOB_STATE_SUCCEEDED) ++done;
      }
    }
    ASSERT_EQ(done, (i + 1) * kBatch) << fast->Finish().error_message();
  }
  fast_ctx.TryCancel();
  fast->Finish();

  // The slow one now reads what was written before it fell behind, then the
  // status that ended it.
  size_t received = 0;
  while (slow->Read(&msg)) received += static_cast<size_t>(msg.events_size());
  grpc::Status s = slow->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  EXPECT_LT(received, static_cast<size_t>(3 * kJobs));

  // And the daemon serves on.
  EXPECT_TRUE(c.Submit(MakeSpec("noop")).ok());
  EXPECT_EQ(jobqd->Stop(SIGTERM), 0) << jobqd->Log();
}

TEST(StreamsTest, WatchersThatDoNotReadAreCutPastTheStreamMemoryCap) {
  auto jobqd = JobqdProcess::Start({"--max-stream-memory", "1MiB"});
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();

  // 20 watchers of one queue that read their first message and then
  // nothing; a connection of their own without BDP probing keeps gRPC's
  // window small.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto channel = grpc::CreateCustomChannel(
      jobqd->address(), grpc::InsecureChannelCredentials(), args);
  auto stub = v1::JobService::NewStub(channel);
  constexpr int kWatchers = 20;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::WatchResponse>>> readers;
  v1::WatchRequest watch;
  watch.set_queue("flood");
  v1::WatchResponse msg;
  for (int i = 0; i < kWatchers; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(stub->Watch(contexts.back().get(), watch));
    ASSERT_TRUE(readers.back()->Read(&msg));  // In place.
  }

  // 2000 jobs: under each stream's own bounds (10000 events, 4 MiB), but
  // the 20 streams' buffers together hold many MiB.
  constexpr int kJobs = 2000;
  std::vector<v1::JobSpec> batch(100, MakeSpec("noop", "flood"));
  for (int i = 0; i < kJobs / 100; ++i) ASSERT_TRUE(c.SubmitBatch(batch).ok());
  // Another queue is served while they stall; its ack comes in a later
  // turn of the core than the flood's, after that turn's check of the cap.
  ASSERT_TRUE(c.Submit(MakeSpec("noop", "other")).ok());
  double cut = MetricSample(HttpGet(jobqd->http_port(), "/metrics"),
                            "jobq_streams_cut_total{reason=\"memory\"}");
  EXPECT_GE(cut, 1);
  EXPECT_EQ(MetricSample(HttpGet(jobqd->http_port(), "/metrics"),
                         "jobq_streams_cut_total{reason=\"slow\"}"),
            0);

  // Each watcher now reads: a cut one gets what was written before and then
  // RESOURCE_EXHAUSTED; one that was spared gets every job's end.
  int ended = 0;
  for (int i = 0; i < kWatchers; ++i) {
    int succeeded = 0;
    while (succeeded < kJobs && readers[i]->Read(&msg)) {
      for (const auto& e : msg.events()) {
        succeeded += e.state() == v1::JOB_STATE_SUCCEEDED ? 1 : 0;
      }
    }
    if (succeeded == kJobs) {
      contexts[i]->TryCancel();
      readers[i]->Finish();
      continue;
    }
    grpc::Status s = readers[i]->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << s.error_message();
    ++ended;
  }
  EXPECT_GE(ended, static_cast<int>(cut));
  EXPECT_EQ(jobqd->Stop(SIGTERM), 0) << jobqd->Log();
}

TEST(StreamsTest, SigtermLetsRunningJobsFinishAndExitsZero) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();
  std::vector<v1::JobState> states;
  absl::Status s =
      c.SubmitAndWatch(MakeSpec("sleep", "", "1s"), [&](const v1::JobEvent& e) {
        states.push_back(e.state());
        if (e.state() == v1::JOB_STATE_RUNNING) kill(jobqd->pid(), SIGTERM);
        return true;
      });
  // The running job finished, was reported, and the stream ended cleanly.
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(jobqd->Stop(0), 0) << jobqd->Log();
  EXPECT_NE(jobqd->Log().find("received SIGTERM"), std::string::npos);
}

TEST(StreamsTest, NewWorkIsRefusedWhileShuttingDown) {
  auto jobqd = JobqdProcess::Start({"--shutdown-grace", "30s"});
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();
  // A running job holds the shutdown open while new submits are refused.
  std::thread watcher([&] {
    (void)c.SubmitAndWatch(MakeSpec("sleep", "", "2s"), [&](const auto& e) {
      if (e.state() == v1::JOB_STATE_RUNNING) kill(jobqd->pid(), SIGTERM);
      return true;
    });
  });
  absl::Status refused;
  // Wait for the refusal itself.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    refused = c.Submit(MakeSpec("noop")).status();
  } while (refused.ok() && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  watcher.join();
  EXPECT_EQ(jobqd->Stop(0), 0);
}

}  // namespace
}  // namespace jobq::testing
