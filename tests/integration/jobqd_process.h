#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "tests/testing/process.h"

namespace jobq::testing {

// The real jobqd binary, started on 127.0.0.1 port 0 for one test and
// stopped by its pid. Its stderr is collected, and the port is read back
// from its start-up line.
class JobqdProcess {
 public:
  // `config_yaml`, if not empty, is written to a file passed as --config.
  static std::unique_ptr<JobqdProcess> Start(
      std::vector<std::string> args = {}, const std::string& config_yaml = "");
  // Runs jobqd with `args` (on 127.0.0.1:0) until it exits by itself, and
  // returns what it wrote to stderr.
  static std::string StartExpectingFailure(std::vector<std::string> args);
  ~JobqdProcess();

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }
  int http_port() const { return http_port_; }
  client::Client& client() { return *client_; }

  // Sends `sig` and waits for the exit; returns the exit status, or 128 plus
  // the signal that ended it.
  int Stop(int sig);
  // Everything jobqd wrote to stderr so far.
  std::string Log();

 private:
  JobqdProcess() = default;
  bool WaitForPort();

  pid_t pid_ = -1;
  int port_ = 0;
  int http_port_ = 0;
  std::string config_path_;
  std::unique_ptr<client::Client> client_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string log_;   // Guarded by mu_.
  bool eof_ = false;  // Guarded by mu_.
};

// A job spec in one line.
v1::JobSpec MakeSpec(const std::string& kind, const std::string& queue = "",
                     const std::string& payload = "", int32_t priority = 0);

// Path of a file that does not exist yet, unique to this test.
std::string TempPath(const std::string& name);

// Runs a shell command; returns its exit status and its stdout and stderr
// together.
struct CommandRun {
  int exit_code;
  std::string out;
};
CommandRun RunCommand(const std::string& command);

}  // namespace jobq::testing
