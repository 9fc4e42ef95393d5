#include "tests/integration/jobqd_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>

extern char** environ;

namespace jobq::testing {
namespace {

// Starts `argv` with its stderr on `stderr_fd`. The child dies with this
// process (PR_SET_PDEATHSIG), so a test killed by a timeout leaves no
// jobqd behind. Returns the pid, or -1.
pid_t Spawn(std::vector<std::string>& argv, int stderr_fd) {
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  // The child: only async-signal-safe calls until exec.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  dup2(stderr_fd, STDERR_FILENO);
  execve(cargv[0], cargv.data(), environ);
  _exit(127);
}

}  // namespace

using namespace std::chrono_literals;

std::unique_ptr<JobqdProcess> JobqdProcess::Start(
    std::vector<std::string> args, const std::string& config_yaml) {
  std::unique_ptr<JobqdProcess> p(new JobqdProcess);
  std::vector<std::string> argv = {JOBQD_PATH,   "--listen", "127.0.0.1:0",
                                   "--workers",  "2",        "--http-listen",
                                   "127.0.0.1:0"};
  if (!config_yaml.empty()) {
    p->config_path_ = TempPath("jobqd.yaml");
    std::ofstream(p->config_path_) << config_yaml;
    argv.push_back("--config");
    argv.push_back(p->config_path_);
  }
  for (auto& a : args) argv.push_back(a);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return nullptr;
  p->pid_ = Spawn(argv, fds[1]);
  close(fds[1]);
  if (p->pid_ < 0) {
    close(fds[0]);
    ADD_FAILURE() << "cannot start " << JOBQD_PATH;
    return nullptr;
  }
  JobqdProcess* raw = p.get();
  p->reader_ = std::thread([raw, fd = fds[0]] {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
      std::lock_guard lock(raw->mu_);
      raw->log_.append(buf, static_cast<size_t>(n));
      raw->cv_.notify_all();
    }
    close(fd);
    std::lock_guard lock(raw->mu_);
    raw->eof_ = true;
    raw->cv_.notify_all();
  });
  if (!p->WaitForPort()) {
    ADD_FAILURE() << "jobqd did not start:\n" << p->Log();
    return nullptr;
  }
  // Calls get a deadline; a sanitizer build runs ten times slower.
  client::ClientOptions options;
  options.timeout_ms = JOBQ_CALL_TIMEOUT_MS;
  p->client_ = std::make_unique<client::Client>(p->address(), options);
  return p;
}

std::string JobqdProcess::StartExpectingFailure(std::vector<std::string> args) {
  std::unique_ptr<JobqdProcess> p(new JobqdProcess);
  std::vector<std::string> argv = {JOBQD_PATH, "--listen", "127.0.0.1:0",
                                   "--http-listen", "127.0.0.1:0"};
  for (auto& a : args) argv.push_back(a);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
  pid_t pid = Spawn(argv, fds[1]);
  close(fds[1]);
  int rc = pid > 0 ? 0 : -1;
  std::string out;
  if (rc == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
      out.append(buf, static_cast<size_t>(n));
    int status;
    waitpid(pid, &status, 0);
  }
  close(fds[0]);
  return out;
}

bool JobqdProcess::WaitForPort() {
  static const std::regex kListening(
      R"(listening on [0-9.]+:([0-9]+) \(http (off|[0-9.]+:([0-9]+))\))");
  std::unique_lock lock(mu_);
  std::smatch m;
  cv_.wait_for(lock, 30s,
               [&] { return eof_ || std::regex_search(log_, m, kListening); });
  if (!std::regex_search(log_, m, kListening)) return false;
  port_ = std::stoi(m[1]);
  if (m[3].matched) http_port_ = std::stoi(m[3]);
  return true;
}

std::string JobqdProcess::Log() {
  std::lock_guard lock(mu_);
  return log_;
}

int JobqdProcess::Stop(int sig) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

JobqdProcess::~JobqdProcess() {
  client_.reset();
  if (pid_ > 0) Stop(SIGKILL);
  if (reader_.joinable()) reader_.join();
  if (!config_path_.empty()) std::remove(config_path_.c_str());
}

v1::JobSpec MakeSpec(const std::string& kind, const std::string& queue,
                     const std::string& payload, int32_t priority) {
  v1::JobSpec s;
  s.set_kind(kind);
  s.set_queue(queue);
  s.set_payload(payload);
  s.set_priority(priority);
  return s;
}

std::string TempPath(const std::string& name) {
  static int counter = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + "jobq_" +
         (info != nullptr ? std::string(info->name()) : "test") + "_" +
         std::to_string(getpid()) + "_" + std::to_string(++counter) + "_" +
         name;
}

CommandRun RunCommand(const std::string& command) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace jobq::testing
