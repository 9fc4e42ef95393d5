// Remote workers against the real jobqd: assignment, spreading, redelivery,
// refusal of late results, progress, and a graceful drain.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "client/worker.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

using client::Outcome;
using client::Worker;
using client::WorkerJob;
using client::WorkerOptions;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Holds every job its handlers get until Release(); counts who got what.
class Gate {
 public:
  Worker::Handler Handler(const std::string& who) {
    return [this, who](WorkerJob& job) {
      std::unique_lock lock(mu_);
      runs_[job.id()].push_back(who);
      ++entered_[who];
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      return Outcome::Success("by " + who);
    };
  }
  // Waits until `n` jobs in all are held.
  bool WaitEntered(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 30s, [&] {
      int total = 0;
      for (auto& [who, count] : entered_) total += count;
      return total >= n;
    });
  }
  void Release() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int Entered(const std::string& who) {
    std::lock_guard lock(mu_);
    return entered_[who];
  }
  std::map<std::string, std::vector<std::string>> Runs() {
    std::lock_guard lock(mu_);
    return runs_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  std::map<std::string, int> entered_;
  std::map<std::string, std::vector<std::string>> runs_;
};

// A worker running on its own thread.
struct RunningWorker {
  RunningWorker(const std::string& address, WorkerOptions options,
                Worker::Handler handler)
      : worker(client::MakeChannel(address), std::move(options),
               std::move(handler)),
        thread([this] { status = worker.Run(); }) {}
  ~RunningWorker() {
    worker.Stop();
    if (thread.joinable()) thread.join();
  }
  absl::Status Join() {
    thread.join();
    return status;
  }
  Worker worker;
  absl::Status status;
  std::thread thread;
};

WorkerOptions Options(const std::string& id, int concurrency,
                      const std::string& kind = "resize") {
  WorkerOptions o;
  o.worker_id = id;
  o.kinds = {kind};
  o.concurrency = concurrency;
  o.threads = concurrency;
  return o;
}

// Waits for `id` to end and returns its final state.
v1::Job WaitDone(client::Client& c, const std::string& id) {
  v1::WatchRequest req;
  req.add_job_ids(id);
  EXPECT_TRUE(c.Watch(req, [](const v1::JobEvent&) { return true; }).ok());
  return c.GetJob(id).value_or(v1::Job());
}

using WorkersTest = JobqdTest;

TEST_F(WorkersTest, EachJobRunsOnceAndLoadSpreadsByFreeCapacity) {
  Gate gate;
  RunningWorker a(jobqd_->address(), Options("a", 2), gate.Handler("a"));
  RunningWorker b(jobqd_->address(), Options("b", 3), gate.Handler("b"));
  ASSERT_TRUE(a.worker.WaitWelcomed(30s));
  ASSERT_TRUE(b.worker.WaitWelcomed(30s));
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    auto r = c().Submit(MakeSpec("resize", "img"));
    ASSERT_TRUE(r.ok()) << r.status();
    ids.push_back(r->job_id());
  }
  // Five slots: both workers fill up, neither beyond its concurrency.
  ASSERT_TRUE(gate.WaitEntered(5));
  auto workers = c().ListWorkers();
  ASSERT_TRUE(workers.ok()) << workers.status();
  ASSERT_EQ(workers->workers_size(), 2);
  EXPECT_EQ(workers->workers(0).worker_id(), "a");
  EXPECT_EQ(workers->workers(0).in_flight(), 2u);
  EXPECT_EQ(workers->workers(1).in_flight(), 3u);
  auto stats = c().GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->remote_workers(), 2u);
  ASSERT_EQ(stats->kinds_size(), 1);
  EXPECT_EQ(stats->kinds(0).kind(), "resize");
  EXPECT_EQ(stats->kinds(0).waiting(), 5u);
  EXPECT_EQ(stats->kinds(0).running(), 5u);
  EXPECT_EQ(stats->kinds(0).capacity(), 5u);
  CommandRun ctl = Ctl("workers");
  EXPECT_EQ(ctl.exit_code, 0) << ctl.out;
  EXPECT_THAT(ctl.out, ::testing::ContainsRegex("\na +resize +[*] +2 +2 "));
  EXPECT_THAT(ctl.out, ::testing::ContainsRegex("\nb +resize +[*] +3 +3 "));
  CommandRun get = Ctl("get " + gate.Runs().begin()->first);
  EXPECT_THAT(get.out, HasSubstr("worker:      "));
  gate.Release();
  for (const auto& id : ids) {
    v1::Job job = WaitDone(c(), id);
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << id;
    EXPECT_EQ(job.attempt(), 1);
  }
  auto runs = gate.Runs();
  EXPECT_EQ(runs.size(), ids.size());
  for (const auto& [id, who] : runs) EXPECT_EQ(who.size(), 1u) << id;
  EXPECT_GE(gate.Entered("a"), 2);
  EXPECT_GE(gate.Entered("b"), 3);
}

// Opens a Work stream by hand, as any language's worker would. It says
// nothing unless told to: a hung worker. Its reads fail after a minute
// rather than wait forever.
struct RawWorker {
  RawWorker(const std::string& address, const std::string& id,
            int concurrency = 1) {
    stub = v1::WorkerService::NewStub(client::MakeChannel(address));
    ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    stream = stub->Work(&ctx);
    v1::WorkerMessage hello;
    hello.mutable_hello()->set_worker_id(id);
    hello.mutable_hello()->add_kinds("resize");
    hello.mutable_hello()->set_concurrency(concurrency);
    EXPECT_TRUE(stream->Write(hello));
    EXPECT_TRUE(stream->Read(&first));
    EXPECT_EQ(first.welcome().worker_id(), id);
  }
  // The first message: the welcome, and maybe jobs already.
  v1::WorkAssignment first;
  std::unique_ptr<v1::WorkerService::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::WorkerMessage, v1::WorkAssignment>>
      stream;
};

TEST_F(WorkersTest, AKilledWorkersJobIsRedeliveredAndItsLateResultRefused) {
  auto submitted = c().Submit(MakeSpec("resize", "img", "cat.png"));
  ASSERT_TRUE(submitted.ok());
  const std::string id = submitted->job_id();
  v1::AssignedJob held;
  {
    RawWorker first(jobqd_->address(), "first");
    v1::WorkAssignment m = first.first;
    while (m.jobs_size() == 0) ASSERT_TRUE(first.stream->Read(&m));
    held = m.jobs(0);
    EXPECT_EQ(held.job_id(), id);
    EXPECT_EQ(held.payload(), "cat.png");
    EXPECT_EQ(c().GetJob(id)->worker(), "first");
    first.ctx.TryCancel();  // As the connection of a killed process ends.
  }
  // Another worker gets the job again, as attempt 2, and finishes it.
  Gate gate;
  gate.Release();
  RunningWorker second(jobqd_->address(), Options("second", 1),
                       gate.Handler("second"));
  v1::Job done = WaitDone(c(), id);
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.attempt(), 2);
  EXPECT_EQ(done.result(), "by second");
  // The first worker reconnects and reports its run: refused.
  RawWorker again(jobqd_->address(), "first");
  v1::WorkerMessage late;
  auto* r = late.add_results();
  r->set_job_id(id);
  r->set_attempt(held.attempt());
  r->set_success(true);
  r->set_result("by first");
  ASSERT_TRUE(again.stream->Write(late));
  v1::WorkAssignment answer;
  ASSERT_TRUE(again.stream->Read(&answer));
  ASSERT_EQ(answer.refused_size(), 1);
  EXPECT_EQ(answer.refused(0).job_id(), id);
  EXPECT_THAT(answer.refused(0).reason(), HasSubstr("does not hold"));
  EXPECT_EQ(c().GetJob(id)->result(), "by second");
  EXPECT_EQ(gate.Runs().at(id).size(), 1u);
}

// A worker whose connection stays up but which stops sending: once its
// lease runs out it is fenced, its job goes to the healthy worker, and it
// gets nothing more until it speaks again.
TEST(WorkersFencingTest, AHungWorkersJobGoesToAHealthyOneAndItWaitsFenced) {
  auto jobqd = JobqdProcess::Start({"--lease", "1s"});
  ASSERT_NE(jobqd, nullptr);
  client::Client& c = jobqd->client();
  // More room than the healthy worker: without fencing the lost job would
  // go straight back to it.
  RawWorker hung(jobqd->address(), "hung", 2);
  auto first = c.Submit(MakeSpec("resize", "", "first"));
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string id = first->job_id();
  v1::WorkAssignment m;
  do {
    ASSERT_TRUE(hung.stream->Read(&m));
  } while (m.jobs_size() == 0);
  EXPECT_EQ(m.jobs(0).job_id(), id);
  Gate gate;
  RunningWorker healthy(jobqd->address(), Options("healthy", 1),
                        gate.Handler("healthy"));
  ASSERT_TRUE(healthy.worker.WaitWelcomed(30s));

  // The hung worker is told that it lost the job, and gets nothing back.
  do {
    ASSERT_TRUE(hung.stream->Read(&m));
    EXPECT_EQ(m.jobs_size(), 0) << "a job for the hung worker";
  } while (m.revoked_size() == 0);
  EXPECT_EQ(m.revoked(0).job_id(), id);
  EXPECT_EQ(m.revoked(0).attempt(), 1);
  EXPECT_THAT(m.revoked(0).reason(), HasSubstr("lease expired"));
  ASSERT_TRUE(gate.WaitEntered(1));
  EXPECT_EQ(gate.Runs().at(id), std::vector<std::string>{"healthy"});
  auto moved = c.GetJob(id);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->worker(), "healthy");
  EXPECT_EQ(moved->attempt(), 2);
  auto workers = c.ListWorkers();
  ASSERT_TRUE(workers.ok());
  ASSERT_EQ(workers->workers_size(), 2);
  EXPECT_EQ(workers->workers(0).worker_id(), "healthy");
  EXPECT_FALSE(workers->workers(0).fenced());
  EXPECT_TRUE(workers->workers(1).fenced());
  EXPECT_EQ(workers->workers(1).expired_total(), 1u);
  EXPECT_EQ(workers->workers(1).in_flight(), 0u);
  auto stats = c.GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->remote_workers(), 2u);
  EXPECT_EQ(stats->fenced_workers(), 1u);

  // The healthy worker is full: a new job waits although the hung one has
  // room (its dispatch ran in the turn of the submit, before this GetJob).
  auto second = c.Submit(MakeSpec("resize", "", "second"));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(c.GetJob(second->job_id())->state(), v1::JOB_STATE_READY);

  // One message from it lifts the fence: the waiting job is its.
  ASSERT_TRUE(hung.stream->Write(v1::WorkerMessage()));
  do {
    ASSERT_TRUE(hung.stream->Read(&m));
  } while (m.jobs_size() == 0);
  EXPECT_EQ(m.jobs(0).job_id(), second->job_id());
  EXPECT_EQ(m.jobs(0).attempt(), 1);
  v1::WorkerMessage result;
  auto* r = result.add_results();
  r->set_job_id(second->job_id());
  r->set_attempt(1);
  r->set_success(true);
  r->set_result("by hung, awake");
  ASSERT_TRUE(hung.stream->Write(result));
  EXPECT_EQ(WaitDone(c, second->job_id()).result(), "by hung, awake");
  workers = c.ListWorkers();
  ASSERT_TRUE(workers.ok());
  EXPECT_FALSE(workers->workers(1).fenced());
  EXPECT_EQ(workers->workers(1).succeeded_total(), 1u);

  gate.Release();
  v1::Job done = WaitDone(c, id);
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.result(), "by healthy");
  hung.ctx.TryCancel();
}

TEST_F(WorkersTest, ProgressReachesAWatcher) {
  std::mutex mu;
  std::condition_variable cv;
  bool finish = false;
  RunningWorker w(jobqd_->address(), Options("p", 1), [&](WorkerJob& job) {
    job.Progress(0.5, "half way");
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finish; });
    return Outcome::Success();
  });
  // The watch is in place (its opening message read) before the job
  // exists, so its progress cannot come before it.
  grpc::ClientContext ctx;
  v1::WatchRequest req;
  req.set_queue("progress");
  auto watch = c().jobs().Watch(&ctx, req);
  v1::WatchResponse m;
  ASSERT_TRUE(watch->Read(&m));
  ASSERT_TRUE(c().Submit(MakeSpec("resize", "progress")).ok());
  std::vector<v1::JobEvent> events;
  while (events.empty() || events.back().state() != v1::JOB_STATE_SUCCEEDED) {
    ASSERT_TRUE(watch->Read(&m));
    for (const auto& e : m.events()) {
      events.push_back(e);
      if (e.has_progress()) {
        std::lock_guard lock(mu);
        finish = true;
        cv.notify_all();
      }
    }
  }
  ctx.TryCancel();
  auto progress = std::find_if(events.begin(), events.end(),
                               [](const auto& e) { return e.has_progress(); });
  ASSERT_NE(progress, events.end());
  EXPECT_EQ(progress->state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(progress->progress().fraction(), 0.5);
  EXPECT_EQ(progress->progress().message(), "half way");
  EXPECT_EQ(events.back().state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(WorkersTest, FailuresAndThrownExceptionsFollowTheRetryPolicy) {
  RunningWorker w(jobqd_->address(), Options("f", 2), [](WorkerJob& job) {
    if (job.payload() == "throw") throw std::runtime_error("bad input");
    if (job.payload() == "permanent") {
      return Outcome::Failure("never", /*permanent=*/true);
    }
    return job.attempt() < 2 ? Outcome::Failure("flaky")
                             : Outcome::Success("ok");
  });
  auto spec = [](const std::string& payload) {
    v1::JobSpec s = MakeSpec("resize", "", payload);
    s.mutable_retry()->set_max_attempts(3);
    s.mutable_retry()->mutable_initial_backoff()->set_nanos(1'000'000);
    return s;
  };
  auto flaky = c().Submit(spec("flaky"));
  auto thrown = c().Submit(MakeSpec("resize", "", "throw"));
  auto permanent = c().Submit(spec("permanent"));
  ASSERT_TRUE(flaky.ok() && thrown.ok() && permanent.ok());
  v1::Job f = WaitDone(c(), flaky->job_id());
  EXPECT_EQ(f.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(f.attempt(), 2);
  v1::Job t = WaitDone(c(), thrown->job_id());
  EXPECT_EQ(t.state(), v1::JOB_STATE_DEAD);
  EXPECT_EQ(t.error(), "bad input");
  v1::Job p = WaitDone(c(), permanent->job_id());
  EXPECT_EQ(p.state(), v1::JOB_STATE_DEAD);
  EXPECT_EQ(p.attempt(), 1);
}

TEST_F(WorkersTest, BadHellosGetTheirStatusAndTheDaemonKeepsServing) {
  auto code_of = [&](const v1::WorkerMessage& first) {
    auto stub =
        v1::WorkerService::NewStub(client::MakeChannel(jobqd_->address()));
    grpc::ClientContext ctx;
    auto stream = stub->Work(&ctx);
    stream->Write(first);
    stream->WritesDone();
    v1::WorkAssignment m;
    while (stream->Read(&m)) {
    }
    grpc::Status s = stream->Finish();
    return std::make_pair(s.error_code(), s.error_message());
  };
  v1::WorkerMessage none;  // No hello.
  EXPECT_EQ(code_of(none).first, grpc::StatusCode::INVALID_ARGUMENT);
  v1::WorkerMessage local;
  local.mutable_hello()->add_kinds("noop");
  auto [code, message] = code_of(local);
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(message, "hello.kinds[0]: \"noop\" is run by jobqd itself");
  v1::WorkerMessage no_kinds;
  no_kinds.mutable_hello()->set_concurrency(1);
  EXPECT_THAT(code_of(no_kinds).second, HasSubstr("hello.kinds:"));
  v1::WorkerMessage bad_queue;
  bad_queue.mutable_hello()->add_kinds("resize");
  bad_queue.mutable_hello()->add_queues("Not A Queue");
  EXPECT_THAT(code_of(bad_queue).second, HasSubstr("hello.queues[0]:"));
  v1::WorkerMessage huge;
  huge.mutable_hello()->add_kinds("resize");
  huge.mutable_hello()->set_concurrency(1'000'000);
  EXPECT_THAT(code_of(huge).second, HasSubstr("hello.concurrency:"));
  RawWorker taken(jobqd_->address(), "taken");
  v1::WorkerMessage twin;
  twin.mutable_hello()->set_worker_id("taken");
  twin.mutable_hello()->add_kinds("resize");
  EXPECT_EQ(code_of(twin).first, grpc::StatusCode::ALREADY_EXISTS);
  // Still serving.
  auto r = c().Submit(MakeSpec("noop"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(WaitDone(c(), r->job_id()).state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(WorkersTest, ShutdownDrainsWorkersAndWaitsForTheirJobs) {
  Gate gate;
  WorkerOptions options = Options("d", 1);
  // The held job finishes only once jobqd has asked the worker to drain.
  options.on_drain = [&gate] { gate.Release(); };
  RunningWorker w(jobqd_->address(), options, gate.Handler("d"));
  auto submitted = c().Submit(MakeSpec("resize"));
  ASSERT_TRUE(submitted.ok());
  ASSERT_TRUE(gate.WaitEntered(1));
  grpc::ClientContext ctx;
  v1::WatchRequest req;
  req.add_job_ids(submitted->job_id());
  auto watch = c().jobs().Watch(&ctx, req);
  v1::WatchResponse m;
  ASSERT_TRUE(watch->Read(&m));  // In place: the job is RUNNING.
  EXPECT_EQ(m.events(0).state(), v1::JOB_STATE_RUNNING);
  v1::JobState last = m.events(0).state();
  std::thread reader([&] {
    while (watch->Read(&m)) {
      for (const auto& e : m.events()) last = e.state();
    }
    EXPECT_TRUE(watch->Finish().ok());
  });
  EXPECT_EQ(jobqd_->Stop(SIGTERM), 0);
  reader.join();
  EXPECT_EQ(last, v1::JOB_STATE_SUCCEEDED);
  EXPECT_TRUE(w.Join().ok()) << w.status;
  EXPECT_EQ(gate.Runs().size(), 1u);
}

std::unique_ptr<ChildProcess> StartPythonWorker(const std::string& address,
                                                const std::string& id);

TEST_F(WorkersTest, ThePythonWorkerRunsJobsSubmittedThroughJobqctl) {
  auto python = StartPythonWorker(jobqd_->address(), "py");
  ASSERT_NE(python, nullptr);
  CommandRun ok = Ctl("submit --kind py.upper --payload hello --wait");
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_THAT(ok.out, HasSubstr("progress=50% \"upper-casing\""));
  EXPECT_THAT(ok.out, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(ok.out, HasSubstr("HELLO"));
  CommandRun fatal = Ctl("submit --kind py.upper --payload fatal --wait");
  EXPECT_NE(fatal.exit_code, 0);
  EXPECT_THAT(fatal.out, HasSubstr("DEAD"));
  EXPECT_THAT(fatal.out, HasSubstr("asked to fail for good"));
  CommandRun workers = Ctl("workers");
  EXPECT_THAT(workers.out, ::testing::ContainsRegex("\npy +py.upper "));
  // SIGTERM: it drains and exits cleanly.
  EXPECT_EQ(python->Stop(SIGTERM), 0) << python->Output();
  EXPECT_THAT(python->Output(), HasSubstr("worker py stopped after 2 jobs"));
}

// The Python example worker, started and welcomed.
std::unique_ptr<ChildProcess> StartPythonWorker(const std::string& address,
                                                const std::string& id) {
  auto python = ChildProcess::Start(
      {"/usr/bin/python3", JOBQ_PYTHON_WORKER, "--addr", address, "--id", id},
      {std::string("PYTHONPATH=") + JOBQ_PYTHONPATH});
  if (python == nullptr) return nullptr;
  EXPECT_TRUE(python->WaitForOutput(std::regex("worker " + id + " connected")))
      << python->Output();
  return python;
}

TEST_F(WorkersTest, AWorkerProcessKilledMidJobLosesItToAnother) {
  auto victim = StartPythonWorker(jobqd_->address(), "victim");
  ASSERT_NE(victim, nullptr);
  auto submitted = c().Submit(MakeSpec("py.upper", "", "sleep 60"));
  ASSERT_TRUE(submitted.ok());
  const std::string id = submitted->job_id();
  // Running on the victim (a watch starts with the job's current state).
  v1::WatchRequest req;
  req.add_job_ids(id);
  ASSERT_TRUE(c().Watch(req,
                        [](const v1::JobEvent& e) {
                          return e.state() != v1::JOB_STATE_RUNNING;
                        })
                  .ok());
  EXPECT_EQ(c().GetJob(id)->worker(), "victim");
  EXPECT_EQ(victim->Stop(SIGKILL), 128 + SIGKILL);
  // A C++ worker takes it over as attempt 2 and finishes it.
  Gate gate;
  gate.Release();
  RunningWorker rescuer(jobqd_->address(), Options("rescuer", 1, "py.upper"),
                        gate.Handler("rescuer"));
  v1::Job done = WaitDone(c(), id);
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.attempt(), 2);
  EXPECT_EQ(done.result(), "by rescuer");
  EXPECT_EQ(gate.Runs().size(), 1u);
}

TEST(WorkersCrashTest, LeasedJobsAreReadyAgainAfterJobqdCrashes) {
  const std::string dir = TempPath("data");
  std::string id;
  {
    auto jobqd = JobqdProcess::Start({"--data-dir", dir});
    ASSERT_NE(jobqd, nullptr);
    Gate gate;  // Never released: the job is held when jobqd dies.
    RunningWorker w(jobqd->address(), Options("w", 1), gate.Handler("w"));
    auto submitted = jobqd->client().Submit(MakeSpec("resize"));
    ASSERT_TRUE(submitted.ok());
    id = submitted->job_id();
    ASSERT_TRUE(gate.WaitEntered(1));
    EXPECT_EQ(jobqd->client().GetJob(id)->worker(), "w");
    // The Start record is written in a later group commit than the job's
    // own: a submit acknowledged after it shows that it is durable.
    ASSERT_TRUE(jobqd->client().Submit(MakeSpec("noop")).ok());
    EXPECT_EQ(jobqd->Stop(SIGKILL), 128 + SIGKILL);
    gate.Release();  // Its result has nowhere to go.
  }
  auto jobqd = JobqdProcess::Start({"--data-dir", dir});
  ASSERT_NE(jobqd, nullptr);
  auto job = jobqd->client().GetJob(id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_READY);
  EXPECT_EQ(job->attempt(), 1);
  EXPECT_TRUE(job->worker().empty());
  Gate gate;
  gate.Release();
  RunningWorker w(jobqd->address(), Options("w", 1), gate.Handler("again"));
  v1::Job done = WaitDone(jobqd->client(), id);
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.attempt(), 2);
}

}  // namespace
}  // namespace jobq::testing
