// The C++ Worker across a jobqd restart: it reconnects under the same id,
// delivers the result of a job that finished while jobqd was away (refused:
// the restart gave the job back to its queue), and keeps working.

#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/worker.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

using client::Outcome;
using client::Worker;
using client::WorkerJob;
using client::WorkerOptions;

constexpr auto kDeadline = std::chrono::seconds(30);

// The worker's log lines, waited for by pattern.
class LogLines {
 public:
  void Add(const std::string& line) {
    std::lock_guard lock(mu_);
    lines_.push_back(line);
    cv_.notify_all();
  }
  bool WaitFor(const std::string& part) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] {
      for (const auto& l : lines_) {
        if (l.find(part) != std::string::npos) return true;
      }
      return false;
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

// One-shot signal between the handler and the test.
class Signal {
 public:
  void Set() {
    std::lock_guard lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

TEST(WorkerReconnectTest, AWorkerKeepsWorkingAcrossAJobqdRestart) {
  const std::string dir = TempPath("data");
  auto jobqd = JobqdProcess::Start({"--data-dir", dir});
  ASSERT_NE(jobqd, nullptr);
  const std::string address = jobqd->address();

  LogLines log;
  Signal entered, release, finished;
  WorkerOptions options;
  options.worker_id = "phoenix";
  options.kinds = {"resize"};
  options.concurrency = 2;
  options.threads = 2;
  options.reconnect_initial = std::chrono::milliseconds(50);
  options.reconnect_max = std::chrono::milliseconds(500);
  options.log = [&log](const std::string& line) { log.Add(line); };
  Worker worker(client::MakeChannel(address), options, [&](WorkerJob& job) {
    if (job.payload() == "hold" && job.attempt() == 1) {
      entered.Set();
      release.Wait();
      finished.Set();
      return Outcome::Success("late");
    }
    return Outcome::Success(absl::StrCat(job.payload(), "/", job.attempt()));
  });
  absl::Status status;
  std::thread run([&] { status = worker.Run(); });
  ASSERT_TRUE(worker.WaitWelcomed(kDeadline));
  EXPECT_EQ(
      RunToEnd(jobqd->client(), MakeSpec("resize", "", "before")).result(),
      "before/1");

  auto held = jobqd->client().Submit(MakeSpec("resize", "", "hold"));
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_TRUE(entered.Wait());
  // The Start record is written in a later group commit than the job's
  // own: a submit acknowledged after it shows that it is durable.
  ASSERT_TRUE(jobqd->client().Submit(MakeSpec("noop")).ok());

  EXPECT_EQ(jobqd->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(log.WaitFor("reconnecting"));
  release.Set();  // The job finishes while jobqd is away.
  ASSERT_TRUE(finished.Wait());

  // A new jobqd on the same address and data directory.
  auto again =
      ChildProcess::Start({JOBQD_PATH, "--listen", address, "--http-listen",
                           "127.0.0.1:0", "--workers", "2", "--data-dir", dir});
  ASSERT_NE(again, nullptr);
  ASSERT_TRUE(again->WaitForOutput(std::regex("listening on ")))
      << again->Output();
  client::Client c(address);
  ASSERT_TRUE(c.WaitUntilServing(30'000).ok());

  ASSERT_TRUE(worker.WaitWelcomed(kDeadline, 2)) << again->Output();
  EXPECT_EQ(worker.worker_id(), "phoenix");
  // The late result went out and was refused: its lease ended with jobqd.
  ASSERT_TRUE(log.WaitFor(absl::StrCat("refused the result of job ",
                                       held->job_id(), " attempt 1")));
  EXPECT_EQ(worker.refused(), 1u);
  // The job runs again, on the same worker, and new jobs run too.
  v1::JobEvent end = WaitForEnd(c, held->job_id());
  EXPECT_EQ(end.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(end.result(), "hold/2");
  EXPECT_EQ(RunToEnd(c, MakeSpec("resize", "", "after")).result(), "after/1");

  worker.Stop();
  run.join();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(worker.sessions(), 2u);
}

TEST(WorkerReconnectTest, StopEndsRunWhileJobqdIsAway) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  LogLines log;
  WorkerOptions options;
  options.kinds = {"resize"};
  options.reconnect_initial = std::chrono::milliseconds(60'000);
  options.reconnect_max = std::chrono::milliseconds(60'000);
  options.log = [&log](const std::string& line) { log.Add(line); };
  Worker worker(client::MakeChannel(jobqd->address()), options,
                [](WorkerJob&) { return Outcome::Success(); });
  absl::Status status;
  std::thread run([&] { status = worker.Run(); });
  ASSERT_TRUE(worker.WaitWelcomed(kDeadline));
  EXPECT_EQ(jobqd->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(log.WaitFor("reconnecting"));
  // Waiting out a minute's backoff: Stop cuts it short.
  worker.Stop();
  run.join();
  EXPECT_TRUE(status.ok()) << status;
}

TEST(WorkerReconnectTest, AHelloRefusedForGoodEndsRun) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  WorkerOptions options;
  options.kinds = {"noop"};  // jobqd runs it itself.
  options.log = [](const std::string&) {};
  Worker worker(client::MakeChannel(jobqd->address()), options,
                [](WorkerJob&) { return Outcome::Success(); });
  absl::Status status = worker.Run();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(worker.sessions(), 0u);
}

}  // namespace
}  // namespace jobq::testing
