#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "client/client.h"
#include "tests/testing/process.h"

namespace jobq::testing {

// Runs a shell command; returns its exit status and its stdout and stderr
// together.
struct CommandRun {
  int exit_code;
  std::string out;
};
CommandRun RunCommand(const std::string& command);

// A child process for one test, with its stdout and stderr collected,
// stopped by its pid.
// Thread: one owner.
class ChildProcess {
 public:
  // Starts argv[0] (a path) with `env` ("NAME=value") added to ours.
  static std::unique_ptr<ChildProcess> Start(
      std::vector<std::string> argv, const std::vector<std::string>& env = {});
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Waits up to 30 s for the output to match `re` (false if it does not
  // before the process ends); `match` gets the groups.
  bool WaitForOutput(const std::regex& re, std::smatch* match = nullptr);
  std::string Output();
  // Sends `sig` (0 to just wait) and waits for the exit; returns the exit
  // status, or 128 plus the signal that ended it.
  int Stop(int sig);

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string output_;   // Guarded by mu_.
  std::string matched_;  // What the last match points into.
  bool eof_ = false;     // Guarded by mu_.
};

// The real jobqd binary, started on 127.0.0.1 port 0 for one test and
// stopped by its pid. Its output is collected, the port is read back from
// its start-up line, and Start returns once jobqd's health check answers
// SERVING (never on the line alone).
class JobqdProcess {
 public:
  // `config_yaml`, if not empty, is written to a file passed as --config.
  // `ready_tls`: how to reach a jobqd started with TLS for its health
  // check (the fixture's own client() stays plaintext).
  static std::unique_ptr<JobqdProcess> Start(
      std::vector<std::string> args = {}, const std::string& config_yaml = "",
      const client::TlsOptions& ready_tls = {});
  // Returns once jobqd has logged its start-up line (its ports), without
  // waiting for SERVING: a standby of a cluster on PostgreSQL. `env`
  // ("NAME=value") is added to its environment.
  static std::unique_ptr<JobqdProcess> StartListening(
      std::vector<std::string> args, const std::vector<std::string>& env = {});
  // Runs jobqd with `args` (on 127.0.0.1:0) until it exits by itself, and
  // returns what it wrote.
  static std::string StartExpectingFailure(std::vector<std::string> args);
  ~JobqdProcess();

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return child_->pid(); }
  int http_port() const { return http_port_; }
  client::Client& client() { return *client_; }

  // Sends `sig` and waits for the exit; returns the exit status, or 128 plus
  // the signal that ended it.
  int Stop(int sig) { return child_->Stop(sig); }
  // Everything jobqd wrote so far.
  std::string Log() { return child_->Output(); }
  // Waits up to 30 s for jobqd's output to match `re`.
  bool WaitForLog(const std::regex& re) { return child_->WaitForOutput(re); }
  // Runs `jobqctl --addr <this jobqd> <args>` (a shell command line).
  CommandRun Ctl(const std::string& args) const;

 private:
  JobqdProcess() = default;
  // Started, its ports read from the start-up line.
  static std::unique_ptr<JobqdProcess> Launch(
      std::vector<std::string> args, const std::string& config_yaml,
      const std::vector<std::string>& env = {});

  std::unique_ptr<ChildProcess> child_;
  int port_ = 0;
  int http_port_ = 0;
  std::string config_path_;
  std::unique_ptr<client::Client> client_;
};

// A test with its own jobqd, started with the defaults.
class JobqdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    jobqd_ = JobqdProcess::Start();
    ASSERT_NE(jobqd_, nullptr);
  }
  client::Client& c() { return jobqd_->client(); }
  CommandRun Ctl(const std::string& args) { return jobqd_->Ctl(args); }
  std::unique_ptr<JobqdProcess> jobqd_;
};

// A job spec in one line.
v1::JobSpec MakeSpec(const std::string& kind, const std::string& queue = "",
                     const std::string& payload = "", int32_t priority = 0);

// Submits `spec` through `c` and watches it to its end: the last event (a
// test failure, and an empty event, if the call fails).
v1::JobEvent RunToEnd(client::Client& c, const v1::JobSpec& spec);

// Watches job `id` until it ends: its last event (SUCCEEDED, DEAD or
// CANCELLED; a test failure, and an empty event, if the call fails).
v1::JobEvent WaitForEnd(client::Client& c, const std::string& id);

// GET `path` from jobqd's HTTP listener on 127.0.0.1:`port`: the body, and
// the status in `status` when given; "" when there is no answer.
std::string HttpGet(int port, const std::string& path, int* status = nullptr);

// The value of one sample line of a /metrics page, such as
// jobq_jobs_submitted_total{queue="default"}; -1 when absent.
double MetricSample(const std::string& page, const std::string& series);

// Every job jobqd holds, by id (a test failure if a page cannot be read).
absl::flat_hash_map<std::string, v1::Job> ListAll(client::Client& c);

// Path of a file that does not exist yet, unique to this test.
std::string TempPath(const std::string& name);

}  // namespace jobq::testing
