// Limits that hold under load: max_queued per queue, watchers per queue,
// streams per connection and message size.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
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
  for (int i = 0; i < 5; ++i) {
    auto accepted = c.Submit(MakeSpec("noop", "big"));
    ASSERT_TRUE(accepted.ok()) << "submit " << i << ": " << accepted.status();
  }
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

// A queue watch on `channel`, open once its opening message has arrived.
struct OpenWatch {
  OpenWatch(const std::shared_ptr<grpc::Channel>& channel,
            const std::string& queue,
            std::chrono::milliseconds deadline = std::chrono::minutes(1)) {
    auto stub = v1::JobService::NewStub(channel);
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    v1::WatchRequest req;
    req.set_queue(queue);
    stream = stub->Watch(&ctx, req);
    v1::WatchResponse opening;
    opened = stream->Read(&opening);
    if (!opened) status = stream->Finish();
  }
  ~OpenWatch() {
    if (opened) {
      ctx.TryCancel();
      stream->Finish();
    }
  }
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> stream;
  bool opened = false;
  grpc::Status status;
};

TEST(LimitsTest, WatchersPerQueueRefuseTheOneTooManyAndServeTheRest) {
  auto jobqd = JobqdProcess::Start({"--max-watchers-per-queue", "2"});
  ASSERT_NE(jobqd, nullptr);
  auto channel = client::MakeChannel(jobqd->address());
  ASSERT_TRUE(jobqd->client().PauseQueue("q").ok());
  OpenWatch first(channel, "q"), second(channel, "q");
  ASSERT_TRUE(first.opened && second.opened);
  OpenWatch third(channel, "q");
  EXPECT_FALSE(third.opened);
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(third.status.error_message(),
            "queue: \"q\" has 2 watchers, its max_watchers_per_queue; retry "
            "later");
  OpenWatch other(channel, "other");
  EXPECT_TRUE(other.opened);
  // Everyone else is served; the watchers see the new job.
  ASSERT_TRUE(jobqd->client().Submit(MakeSpec("noop", "q")).ok());
  v1::WatchResponse m;
  ASSERT_TRUE(first.stream->Read(&m));
  ASSERT_EQ(m.events_size(), 1);
  EXPECT_EQ(m.events(0).state(), v1::JOB_STATE_READY);
  httplib::Client http("127.0.0.1", jobqd->http_port());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(
      metrics->body,
      HasSubstr("jobq_limit_refusals_total{limit=\"watchers_per_queue\"} 1"));
  EXPECT_THAT(metrics->body, HasSubstr("jobq_queue_watchers{queue=\"q\"} 2"));
}

// HTTP/2 holds a stream past the limit until one ends: it never opens on
// that connection, while another connection is served.
TEST(LimitsTest, StreamsPerConnectionHoldTheOneTooMany) {
  auto jobqd = JobqdProcess::Start({"--max-streams-per-connection", "2"});
  ASSERT_NE(jobqd, nullptr);
  grpc::ChannelArguments args;
  args.SetInt("jobq.test.connection", 1);  // A connection of its own.
  auto busy = grpc::CreateCustomChannel(
      jobqd->address(), grpc::InsecureChannelCredentials(), args);
  OpenWatch a(busy, "a"), b(busy, "b");
  ASSERT_TRUE(a.opened && b.opened);
  OpenWatch held(busy, "c", std::chrono::milliseconds(300));
  EXPECT_FALSE(held.opened);
  EXPECT_EQ(held.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  OpenWatch elsewhere(client::MakeChannel(jobqd->address()), "c");
  EXPECT_TRUE(elsewhere.opened);
  EXPECT_TRUE(jobqd->client().Submit(MakeSpec("noop")).ok());
}

// A channel with a connection of its own.
std::shared_ptr<grpc::Channel> OwnConnection(const std::string& address,
                                             int n) {
  grpc::ChannelArguments args;
  args.SetInt("jobq.test.connection", n);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

grpc::Status Ping(const std::shared_ptr<grpc::Channel>& channel,
                  bool wait_for_ready = false) {
  auto stub = v1::AdminService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(wait_for_ready);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::ListQueuesRequest req;
  v1::ListQueuesResponse resp;
  return stub->ListQueues(&ctx, req, &resp);
}

TEST(LimitsTest, AConnectionPastTheLimitIsClosedAndTheOthersAreServed) {
  auto jobqd = JobqdProcess::Start({"--max-connections", "3"});
  ASSERT_NE(jobqd, nullptr);
  // The fixture's own client holds the first connection.
  ASSERT_TRUE(jobqd->client().ListQueues().ok());
  auto second = OwnConnection(jobqd->address(), 2);
  auto third = OwnConnection(jobqd->address(), 3);
  ASSERT_TRUE(Ping(second).ok());
  ASSERT_TRUE(Ping(third).ok());
  grpc::Status refused = Ping(OwnConnection(jobqd->address(), 4));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE)
      << refused.error_message();
  // The connections already open are served as before.
  EXPECT_TRUE(Ping(second).ok());
  EXPECT_TRUE(jobqd->client().Submit(MakeSpec("noop")).ok());
  httplib::Client http("127.0.0.1", jobqd->http_port());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("jobq_connections 3\n"));
  EXPECT_THAT(metrics->body,
              ::testing::ContainsRegex(
                  "jobq_limit_refusals_total\\{limit=\"connections\""
                  "\\} [1-9]"));
  // A connection that ends makes room: a client that waits is served.
  third.reset();
  EXPECT_TRUE(Ping(OwnConnection(jobqd->address(), 5), true).ok());
}

TEST(LimitsTest, EachChannelOfTheClientLibraryIsAConnectionOfItsOwn) {
  auto jobqd = JobqdProcess::Start({});
  ASSERT_NE(jobqd, nullptr);
  ASSERT_TRUE(jobqd->client().ListQueues().ok());
  // Same target, same arguments: gRPC would share one connection among
  // them unless each channel keeps its own.
  auto first = client::MakeChannel(jobqd->address());
  auto second = client::MakeChannel(jobqd->address());
  ASSERT_TRUE(Ping(first).ok());
  ASSERT_TRUE(Ping(second).ok());
  httplib::Client http("127.0.0.1", jobqd->http_port());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("jobq_connections 3\n"));
}

TEST(LimitsTest, AMessageAboveTheSizeIsRefusedAndTheNextIsServed) {
  auto jobqd = JobqdProcess::Start(
      {"--max-payload", "1KiB", "--max-message-size", "80KiB"});
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();
  std::vector<v1::JobSpec> big(100,
                               MakeSpec("noop", "", std::string(1000, 'x')));
  auto refused = c.SubmitBatch(big);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("Received message larger than max"));
  std::vector<v1::JobSpec> fits(50,
                                MakeSpec("noop", "", std::string(1000, 'x')));
  auto served = c.SubmitBatch(fits);
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->results_size(), 50);
  // A limit below what one job may carry is refused at start.
  std::string out = JobqdProcess::StartExpectingFailure(
      {"--max-payload", "1MiB", "--max-message-size", "1MiB"});
  EXPECT_THAT(out, HasSubstr("max_message_size: between max_payload + 64KiB"));
}

}  // namespace
}  // namespace jobq::testing
