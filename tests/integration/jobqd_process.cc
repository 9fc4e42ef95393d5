#include "tests/integration/jobqd_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>

extern char** environ;

namespace jobq::testing {

using namespace std::chrono_literals;

// The child dies with this process (PR_SET_PDEATHSIG), so a test killed by
// a timeout leaves nothing behind.
std::unique_ptr<ChildProcess> ChildProcess::Start(
    std::vector<std::string> argv, const std::vector<std::string>& env) {
  std::unique_ptr<ChildProcess> p(new ChildProcess);
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> env_copy(env);
  std::vector<char*> cenv;
  for (char** e = environ; *e != nullptr; ++e) cenv.push_back(*e);
  for (auto& e : env_copy) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return nullptr;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    ADD_FAILURE() << "cannot start " << argv[0];
    return nullptr;
  }
  p->pid_ = pid;
  ChildProcess* raw = p.get();
  p->reader_ = std::thread([raw, fd = fds[0]] {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
      std::lock_guard lock(raw->mu_);
      raw->output_.append(buf, static_cast<size_t>(n));
      raw->cv_.notify_all();
    }
    close(fd);
    std::lock_guard lock(raw->mu_);
    raw->eof_ = true;
    raw->cv_.notify_all();
  });
  return p;
}

bool ChildProcess::WaitForOutput(const std::regex& re, std::smatch* match) {
  std::unique_lock lock(mu_);
  std::smatch m;
  cv_.wait_for(lock, 30s,
               [&] { return eof_ || std::regex_search(output_, m, re); });
  if (!std::regex_search(output_, m, re)) return false;
  if (match != nullptr) {
    // Copied out: `m` points into output_, which keeps growing.
    matched_ = output_;
    std::regex_search(matched_, *match, re);
  }
  return true;
}

std::string ChildProcess::Output() {
  std::lock_guard lock(mu_);
  return output_;
}

int ChildProcess::Stop(int sig) {
  if (pid_ <= 0) return exit_code_;
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Stop(SIGKILL);
  if (reader_.joinable()) reader_.join();
}

std::unique_ptr<JobqdProcess> JobqdProcess::Start(
    std::vector<std::string> args, const std::string& config_yaml,
    const client::TlsOptions& ready_tls) {
  auto p = Launch(std::move(args), config_yaml);
  if (p == nullptr) return nullptr;
  // The line gives the ports; ready is the health check saying SERVING.
  absl::Status ready = absl::OkStatus();
  if (ready_tls.enabled()) {
    auto channel = client::MakeChannel(p->address(), ready_tls);
    ready = channel.ok() ? client::Client(*channel).WaitUntilServing(30'000)
                         : channel.status();
  } else {
    ready = p->client_->WaitUntilServing(30'000);
  }
  if (absl::Status s = ready; !s.ok()) {
    ADD_FAILURE() << "jobqd is not serving: " << s << "\n" << p->Log();
    return nullptr;
  }
  return p;
}

std::unique_ptr<JobqdProcess> JobqdProcess::StartListening(
    std::vector<std::string> args, const std::vector<std::string>& env) {
  return Launch(std::move(args), "", env);
}

std::unique_ptr<JobqdProcess> JobqdProcess::Launch(
    std::vector<std::string> args, const std::string& config_yaml,
    const std::vector<std::string>& env) {
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
  p->child_ = ChildProcess::Start(std::move(argv), env);
  if (p->child_ == nullptr) return nullptr;
  static const std::regex kListening(
      R"(listening on [0-9.]+:([0-9]+) \(http (off|[0-9.]+:([0-9]+))\))");
  std::smatch m;
  if (!p->child_->WaitForOutput(kListening, &m)) {
    ADD_FAILURE() << "jobqd did not start:\n" << p->Log();
    return nullptr;
  }
  p->port_ = std::stoi(m[1]);
  if (m[3].matched) p->http_port_ = std::stoi(m[3]);
  // Calls get a deadline; a sanitizer build runs ten times slower.
  client::ClientOptions options;
  options.timeout_ms = JOBQ_CALL_TIMEOUT_MS;
  p->client_ = std::make_unique<client::Client>(p->address(), options);
  return p;
}

std::string JobqdProcess::StartExpectingFailure(std::vector<std::string> args) {
  std::vector<std::string> argv = {JOBQD_PATH, "--listen", "127.0.0.1:0",
                                   "--http-listen", "127.0.0.1:0"};
  for (auto& a : args) argv.push_back(a);
  auto child = ChildProcess::Start(std::move(argv));
  if (child == nullptr) return "cannot start jobqd";
  child->Stop(0);  // Waits for it to exit by itself.
  return child->Output();
}

CommandRun JobqdProcess::Ctl(const std::string& args) const {
  return RunCommand(std::string(JOBQCTL_PATH) + " --addr " + address() + " " +
                    args);
}

JobqdProcess::~JobqdProcess() {
  client_.reset();
  child_.reset();
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

v1::JobEvent RunToEnd(client::Client& c, const v1::JobSpec& spec) {
  v1::JobEvent last;
  absl::Status s = c.SubmitAndWatch(spec, [&](const v1::JobEvent& e) {
    last = e;
    return true;
  });
  if (!s.ok()) ADD_FAILURE() << "SubmitAndWatch: " << s;
  return last;
}

v1::JobEvent WaitForEnd(client::Client& c, const std::string& id) {
  v1::WatchRequest req;
  req.add_job_ids(id);
  for (auto state :
       {v1::JOB_STATE_SUCCEEDED, v1::JOB_STATE_DEAD, v1::JOB_STATE_CANCELLED}) {
    req.add_states(state);
  }
  v1::JobEvent last;
  absl::Status s = c.Watch(req, [&](const v1::JobEvent& e) {
    last = e;
    return true;
  });
  if (!s.ok()) ADD_FAILURE() << "Watch: " << s;
  return last;
}

std::string HttpGet(int port, const std::string& path, int* status) {
  httplib::Client http("127.0.0.1", port);
  auto res = http.Get(path.c_str());
  if (!res) return "";
  if (status != nullptr) *status = res->status;
  return res->body;
}

double MetricSample(const std::string& page, const std::string& series) {
  auto pos = page.find("\n" + series + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(page.substr(pos + series.size() + 2));
}

absl::flat_hash_map<std::string, v1::Job> ListAll(client::Client& c) {
  absl::flat_hash_map<std::string, v1::Job> out;
  v1::ListJobsRequest req;
  req.set_page_size(1000);
  do {
    auto page = c.ListJobs(req);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    for (const auto& j : page->jobs()) out[j.id()] = j;
    req.set_page_token(page->next_page_token());
  } while (!req.page_token().empty());
  return out;
}

std::string TempPath(const std::string& name) {
  static int counter = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info != nullptr ? info->name() : "test";
  std::replace(test.begin(), test.end(), '/', '_');  // Parameterised names.
  return ::testing::TempDir() + "jobq_" + test + "_" +
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
