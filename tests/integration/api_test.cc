// The JobService and AdminService of the real jobqd, through the client
// library.
#include <gtest/gtest.h>

#include <csignal>
#include <regex>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

using ApiTest = JobqdTest;

TEST_F(ApiTest, SubmitGetListAndCancelAScheduledJob) {
  v1::JobSpec spec = MakeSpec("noop", "mail");
  spec.mutable_delay()->set_seconds(3600);
  (*spec.mutable_labels())["tenant"] = "acme";
  auto submitted = c().Submit(spec);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_FALSE(submitted->duplicate());

  auto job = c().GetJob(submitted->job_id());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_SCHEDULED);
  EXPECT_EQ(job->spec().queue(), "mail");
  EXPECT_EQ(job->spec().labels().at("tenant"), "acme");
  EXPECT_GE(job->ready_at().seconds(), job->created_at().seconds() + 3599);

  v1::ListJobsRequest list;
  list.set_queue("mail");
  list.set_state(v1::JOB_STATE_SCHEDULED);
  (*list.mutable_labels())["tenant"] = "acme";
  auto listed = c().ListJobs(list);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->jobs_size(), 1);
  EXPECT_EQ(listed->jobs(0).id(), submitted->job_id());
  (*list.mutable_labels())["tenant"] = "other";
  EXPECT_EQ(c().ListJobs(list)->jobs_size(), 0);

  auto cancelled = c().CancelJob(submitted->job_id());
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(c().CancelJob(submitted->job_id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c().GetJob("00000000000000ff").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ApiTest, SubmitAndWatchStreamsEveryStateUntilTheEnd) {
  std::vector<v1::JobEvent> events;
  absl::Status s = c().SubmitAndWatch(MakeSpec("noop"), [&](const auto& e) {
    events.push_back(e);
    return true;
  });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].state(), v1::JOB_STATE_READY);
  EXPECT_EQ(events[1].state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(events[2].state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(events[2].attempt(), 1);
  EXPECT_TRUE(events[2].timings().has_total());
}

TEST_F(ApiTest, AStateFilterStreamsOnlyThoseStates) {
  v1::SubmitRequest req;
  *req.mutable_job() = MakeSpec("noop");
  req.add_watch_states(v1::JOB_STATE_SUCCEEDED);
  req.add_watch_states(v1::JOB_STATE_DEAD);
  grpc::ClientContext ctx;
  auto reader = c().jobs().SubmitAndWatch(&ctx, req);
  std::vector<v1::JobState> states;
  v1::WatchResponse msg;
  while (reader->Read(&msg)) {
    for (const auto& e : msg.events()) states.push_back(e.state());
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(states, std::vector<v1::JobState>{v1::JOB_STATE_SUCCEEDED});

  v1::WatchRequest bad;
  bad.set_queue("q");
  bad.add_states(v1::JOB_STATE_READY);
  bad.add_states(static_cast<v1::JobState>(0));
  absl::Status s = c().Watch(bad, [](auto&) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("states[1]"), std::string::npos) << s;
}

TEST_F(ApiTest, WatchByIdStartsWithTheCurrentStateAndEndsWithTheJob) {
  ASSERT_TRUE(c().PauseQueue("held").ok());
  auto submitted = c().Submit(MakeSpec("noop", "held"));
  ASSERT_TRUE(submitted.ok());
  v1::WatchRequest req;
  req.add_job_ids(submitted->job_id());
  std::vector<v1::JobState> states;
  absl::Status s = c().Watch(req, [&](const v1::JobEvent& e) {
    states.push_back(e.state());
    if (e.state() == v1::JOB_STATE_READY) {
      EXPECT_TRUE(c().CancelJob(e.job_id()).ok());
    }
    return true;
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(states, (std::vector<v1::JobState>{v1::JOB_STATE_READY,
                                               v1::JOB_STATE_CANCELLED}));
}

TEST_F(ApiTest, SubmitBatchAnswersEveryJobInOrderAndABadJobFailsAlone) {
  std::vector<v1::JobSpec> specs = {
      MakeSpec("noop", "b"), MakeSpec("no pe", "b"), MakeSpec("noop", "B A D"),
      MakeSpec("noop", "b")};
  auto r = c().SubmitBatch(specs);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 4);
  EXPECT_EQ(r->results(0).code(), 0);
  EXPECT_EQ(r->results(1).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r->results(1).message().rfind("jobs[1].kind:", 0), 0u);
  EXPECT_EQ(r->results(2).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r->results(2).message().rfind("jobs[2].queue:", 0), 0u);
  EXPECT_EQ(r->results(3).code(), 0);
  EXPECT_LT(r->results(0).job_id(), r->results(3).job_id());
  EXPECT_TRUE(r->results(1).job_id().empty());

  std::vector<v1::JobSpec> too_many(10'001, MakeSpec("noop"));
  EXPECT_EQ(c().SubmitBatch(too_many).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ApiTest, IdempotencyKeyReturnsTheFirstJob) {
  v1::JobSpec spec = MakeSpec("noop");
  spec.set_idempotency_key("invoice-7");
  auto first = c().Submit(spec);
  auto second = c().Submit(spec);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(first->duplicate());
  EXPECT_TRUE(second->duplicate());
  EXPECT_EQ(first->job_id(), second->job_id());
}

TEST_F(ApiTest, ListJobsPagesThroughEveryJobOnce) {
  ASSERT_TRUE(c().PauseQueue("pages").ok());
  std::vector<v1::JobSpec> specs(25, MakeSpec("noop", "pages"));
  auto submitted = c().SubmitBatch(specs);
  ASSERT_TRUE(submitted.ok());
  std::vector<std::string> seen;
  v1::ListJobsRequest req;
  req.set_queue("pages");
  req.set_page_size(10);
  int pages = 0;
  do {
    auto page = c().ListJobs(req);
    ASSERT_TRUE(page.ok());
    for (const auto& j : page->jobs()) seen.push_back(j.id());
    req.set_page_token(page->next_page_token());
    ++pages;
  } while (!req.page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 25u);
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(seen[static_cast<size_t>(i)], submitted->results(i).job_id());
  }
}

TEST_F(ApiTest, QueueControlsAndStatsReflectTheQueue) {
  auto paused = c().PauseQueue("reports");
  ASSERT_TRUE(paused.ok());
  EXPECT_TRUE(paused->paused());
  std::vector<v1::JobSpec> specs(5, MakeSpec("noop", "reports"));
  ASSERT_TRUE(c().SubmitBatch(specs).ok());
  auto limited = c().SetQueueLimits("reports", 3);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->max_concurrency(), 3);
  EXPECT_EQ(limited->ready(), 5u);

  auto stats = c().GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->storage(), "memory");
  EXPECT_EQ(stats->workers(), 2);
  EXPECT_FALSE(stats->version().empty());
  bool found = false;
  for (const auto& q : stats->queues()) {
    if (q.name() != "reports") continue;
    found = true;
    EXPECT_EQ(q.submitted_total(), 5u);
    EXPECT_EQ(q.ready(), 5u);
  }
  EXPECT_TRUE(found);

  // Resumed once the watch has shown the five READY jobs, they run; their
  // completion is watched, not waited for.
  v1::WatchRequest watch;
  watch.set_queue("reports");
  std::thread resume;
  int ready = 0, done = 0;
  absl::Status watched = c().Watch(watch, [&](const v1::JobEvent& e) {
    if (e.state() == v1::JOB_STATE_READY && ++ready == 5) {
      resume =
          std::thread([&] { EXPECT_TRUE(c().ResumeQueue("reports").ok()); });
    }
    if (e.state() == v1::JOB_STATE_SUCCEEDED) ++done;
    return done < 5;
  });
  if (resume.joinable()) resume.join();
  ASSERT_TRUE(watched.ok()) << watched;
  auto queues = c().ListQueues();
  ASSERT_TRUE(queues.ok());
  for (const auto& q : queues->queues()) {
    if (q.name() == "reports") {
      EXPECT_EQ(q.succeeded(), 5u);
      EXPECT_EQ(q.completed_total(), 5u);
      EXPECT_EQ(q.run_time().count(), 5u);
    }
  }
}

TEST_F(ApiTest, EveryBadInputGetsItsStatusCodeAndTheDaemonKeepsServing) {
  auto code_of = [](const absl::Status& s) { return s.code(); };
  using C = absl::StatusCode;

  v1::JobSpec big = MakeSpec("noop");
  big.set_payload(std::string((1 << 20) + 1, 'x'));
  EXPECT_EQ(code_of(c().Submit(big).status()), C::kInvalidArgument);
  v1::JobSpec neg = MakeSpec("noop");
  neg.mutable_delay()->set_seconds(-5);
  EXPECT_EQ(code_of(c().Submit(neg).status()), C::kInvalidArgument);
  v1::JobSpec retry = MakeSpec("noop");
  retry.mutable_retry()->set_max_attempts(1000);
  auto r = c().Submit(retry);
  EXPECT_EQ(code_of(r.status()), C::kInvalidArgument);
  EXPECT_NE(r.status().message().find("retry.max_attempts"), std::string::npos);
  EXPECT_EQ(code_of(c().Submit(MakeSpec("")).status()), C::kInvalidArgument);
  EXPECT_EQ(code_of(c().Submit(MakeSpec("sleep", "", "forever")).status()),
            C::kInvalidArgument);
  EXPECT_EQ(code_of(c().GetJob("not-an-id").status()), C::kInvalidArgument);
  EXPECT_EQ(code_of(c().CancelJob("").status()), C::kInvalidArgument);
  EXPECT_EQ(code_of(c().PauseQueue("").status()), C::kInvalidArgument);
  EXPECT_EQ(code_of(c().SetQueueLimits("q", -1).status()), C::kInvalidArgument);
  v1::ListJobsRequest list;
  list.set_page_token("garbage");
  EXPECT_EQ(code_of(c().ListJobs(list).status()), C::kInvalidArgument);
  list.set_page_token("");
  list.set_state(static_cast<v1::JobState>(42));
  EXPECT_EQ(code_of(c().ListJobs(list).status()), C::kInvalidArgument);
  v1::WatchRequest watch;
  EXPECT_EQ(code_of(c().Watch(watch, [](auto&) { return true; })),
            C::kInvalidArgument);
  watch.add_job_ids("00000000000000aa");
  EXPECT_EQ(code_of(c().Watch(watch, [](auto&) { return true; })),
            C::kNotFound);
  EXPECT_EQ(code_of(c().SubmitAndWatch(MakeSpec("no pe"),
                                       [](auto&) { return true; })),
            C::kInvalidArgument);

  // Still serving, and nothing bad was accepted.
  auto stats = c().GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->total().submitted_total(), 0u);
  EXPECT_TRUE(c().Submit(MakeSpec("noop")).ok());
}

TEST_F(ApiTest, SubmitStreamAcksEveryRequestAndStreamsWatchedJobs) {
  grpc::ClientContext ctx;
  auto stream = c().jobs().SubmitStream(&ctx);
  constexpr int kJobs = 2000;
  std::set<uint64_t> acked;
  std::set<std::string> watched_done;
  int errors = 0;
  std::thread reader([&] {
    v1::SubmitStreamResponse resp;
    while (stream->Read(&resp)) {
      for (const auto& ack : resp.acks()) {
        acked.insert(ack.client_ref());
        if (ack.result().code() != 0) ++errors;
      }
      for (const auto& e : resp.events()) {
        if (e.state() == v1::JOB_STATE_SUCCEEDED)
          watched_done.insert(e.job_id());
      }
    }
  });
  for (int i = 0; i < kJobs; ++i) {
    v1::SubmitRequest req;
    *req.mutable_job() = MakeSpec(i == 7 ? "bo gus" : "noop", "stream");
    req.set_client_ref(static_cast<uint64_t>(1000 + i));
    req.set_watch(i % 10 == 0);
    ASSERT_TRUE(stream->Write(req));
  }
  stream->WritesDone();
  reader.join();
  grpc::Status s = stream->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(acked.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(*acked.begin(), 1000u);
  EXPECT_EQ(errors, 1);
  // The stream ends only once every watched job has ended.
  EXPECT_EQ(watched_done.size(), static_cast<size_t>(kJobs / 10));
}

// Each hole found in the input checks, through the real server: the code,
// the field named, and nothing raw echoed back.
TEST_F(ApiTest, BadDurationsTimesAndLabelsAreRefusedNamingTheField) {
  auto expect_invalid = [&](const v1::JobSpec& spec, const std::string& field) {
    absl::Status s = c().Submit(spec).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_EQ(std::string(s.message()).rfind("job." + field + ":", 0), 0u) << s;
  };
  v1::JobSpec spec = MakeSpec("noop");
  spec.mutable_timeout()->set_nanos(-1);
  expect_invalid(spec, "timeout");
  spec = MakeSpec("noop");
  spec.mutable_run_at()->set_seconds(absl::ToUnixSeconds(absl::Now()) +
                                     400LL * 24 * 3600);
  expect_invalid(spec, "run_at");
  spec = MakeSpec("noop");
  (*spec.mutable_labels())["a=b"] = "v";
  expect_invalid(spec, "labels");
  spec = MakeSpec("noop");
  (*spec.mutable_labels())["bell\a"] = "v";
  expect_invalid(spec, "labels");
  spec = MakeSpec("noop");
  (*spec.mutable_labels())["k"] = "two\nlines";
  expect_invalid(spec, "labels");

  absl::Status kind = c().Submit(MakeSpec("bad\nkind")).status();
  EXPECT_EQ(kind.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kind.message().find('\n'), absl::string_view::npos)
      << kind.message();
  EXPECT_NE(kind.message().find("\"bad\\nkind\""), absl::string_view::npos)
      << kind.message();
  absl::Status id = c().GetJob("\x1b[2Jgone").status();
  EXPECT_EQ(id.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(id.message().find('\x1b'), absl::string_view::npos) << id.message();

  v1::ListJobsRequest list;
  (*list.mutable_labels())["x=y"] = "z";
  absl::Status listed = c().ListJobs(list).status();
  EXPECT_EQ(listed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(listed.message().rfind("labels:", 0), 0u) << listed.message();
  // A run_at within the horizon is still taken.
  spec = MakeSpec("noop");
  spec.mutable_run_at()->set_seconds(absl::ToUnixSeconds(absl::Now()) + 3600);
  EXPECT_TRUE(c().Submit(spec).ok());
}

TEST_F(ApiTest, ResumeAndLimitsOfAnUnknownQueueAreNotFoundButPauseCreatesIt) {
  absl::Status resumed = c().ResumeQueue("nosuch").status();
  EXPECT_EQ(resumed.code(), absl::StatusCode::kNotFound) << resumed;
  EXPECT_EQ(resumed.message().rfind("queue: \"nosuch\"", 0), 0u) << resumed;
  EXPECT_EQ(c().SetQueueLimits("nosuch", 3).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(c().SetQueueLimits("nosuch", 0, 5).status().code(),
            absl::StatusCode::kNotFound);
  auto queues = c().ListQueues();
  ASSERT_TRUE(queues.ok());
  for (const auto& q : queues->queues()) EXPECT_NE(q.name(), "nosuch");
  // Pausing ahead of the jobs creates the queue; then it can be set up.
  ASSERT_TRUE(c().PauseQueue("nosuch").ok());
  auto limited = c().SetQueueLimits("nosuch", 3);
  ASSERT_TRUE(limited.ok()) << limited.status();
  EXPECT_EQ(limited->max_concurrency(), 3);
  EXPECT_TRUE(c().ResumeQueue("nosuch").ok());
  // A bad name is still INVALID_ARGUMENT, not NOT_FOUND.
  EXPECT_EQ(c().ResumeQueue("Bad Name").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ApiTest, AJobNamedTwiceInOneWatchIsWatchedOnce) {
  v1::JobSpec spec = MakeSpec("noop", "dups");
  spec.mutable_delay()->set_seconds(3600);
  auto a = c().Submit(spec);
  auto b = c().Submit(spec);
  ASSERT_TRUE(a.ok() && b.ok());
  v1::WatchRequest req;
  req.add_job_ids(a->job_id());
  req.add_job_ids(a->job_id());
  req.add_job_ids(b->job_id());
  req.add_job_ids(a->job_id());
  std::vector<std::string> seen;
  std::thread cancel;
  absl::Status s = c().Watch(req, [&](const v1::JobEvent& e) {
    seen.push_back(e.job_id() + " " + v1::JobState_Name(e.state()));
    if (seen.size() == 2) {
      cancel = std::thread([&] {
        EXPECT_TRUE(c().CancelJob(a->job_id()).ok());
        EXPECT_TRUE(c().CancelJob(b->job_id()).ok());
      });
    }
    return true;
  });
  if (cancel.joinable()) cancel.join();
  ASSERT_TRUE(s.ok()) << s;
  // Each job's current state once, then its cancellation once.
  std::multiset<std::string> got(seen.begin(), seen.end());
  EXPECT_EQ(got.count(a->job_id() + " JOB_STATE_SCHEDULED"), 1u);
  EXPECT_EQ(got.count(a->job_id() + " JOB_STATE_CANCELLED"), 1u);
  EXPECT_EQ(got.count(b->job_id() + " JOB_STATE_CANCELLED"), 1u);
  EXPECT_EQ(seen.size(), 4u);
}

// jobqd says it listens only once it serves: clients connecting right after
// the start-up line, many times over, are all served. A connection handed
// to gRPC before its server started would be dropped unhandled and the
// call would hang to its deadline. (Wait-for-ready, so that the client's
// own spurious first-attempt failure, see Client::WaitUntilServing, is
// retried rather than counted against jobqd.)
TEST(ApiStartTest, EveryConnectionRightAfterStartUpIsServed) {
  for (int i = 0; i < 20; ++i) {
    auto child = ChildProcess::Start({JOBQD_PATH, "--listen", "127.0.0.1:0",
                                      "--http-listen", "", "--workers", "1"});
    ASSERT_NE(child, nullptr);
    std::smatch m;
    ASSERT_TRUE(child->WaitForOutput(
        std::regex(R"(listening on [0-9.]+:([0-9]+))"), &m))
        << child->Output();
    std::string address = "127.0.0.1:" + std::string(m[1]);
    // Several channels at once, each its own connection.
    std::vector<std::thread> callers;
    for (int k = 0; k < 4; ++k) {
      callers.emplace_back([&] {
        grpc::ChannelArguments args;
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        client::Client c(grpc::CreateCustomChannel(
            address, grpc::InsecureChannelCredentials(), args));
        absl::Status s = c.WaitUntilServing(10'000);
        EXPECT_TRUE(s.ok()) << s << "\n" << child->Output();
      });
    }
    for (auto& t : callers) t.join();
    EXPECT_EQ(child->Stop(SIGTERM), 0);
  }
}

}  // namespace
}  // namespace jobq::testing
