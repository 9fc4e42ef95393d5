// jobqd: parses flags, sets up logging and signals, runs the Daemon.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/host_port.h"
#include "config/command_line.h"
#include "config/config.h"
#include "daemon/daemon.h"
#include "exec/spawn.h"
#include "logging.h"
#include "version.h"

// jemalloc's settings (jobqd links jemalloc; MALLOC_CONF adds to them).
// One arena: memory that gRPC's threads free (requests, messages) then
// serves the core thread's next jobs, instead of waiting, dirty, in an
// arena of its own; it took resident memory per queued job from about 200
// to about 175 bytes, at no cost in throughput on this 2-core machine.
extern "C" {
const char* malloc_conf = "narenas:1";
}

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "jobqd: %s\n", message.c_str());
  return 2;
}

// Connections, log segments and commands' pipes are file descriptors: take
// all the kernel allows.
void RaiseOpenFileLimit(const jobq::config::ServerConfig& config) {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  if (config.max_connections + 256 > files.rlim_cur) {
    spdlog::warn(
        "--max-connections {} is near the open-file limit {}: connections "
        "past it fail to be accepted instead of being counted",
        config.max_connections, static_cast<uint64_t>(files.rlim_cur));
  }
}

// Blocks the stop signals, for sigwait; every thread started from here on
// inherits the mask.
sigset_t BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  sigaddset(&stop_signals, SIGUSR1);  // The daemon's own: restart.
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return stop_signals;
}

// The start-up line; tests read the ports from it.
void LogStart(const jobq::config::ServerConfig& config,
              const jobq::daemon::Daemon& daemon) {
  std::string listen_addr = config.listen;
  if (listen_addr.rfind(':') != std::string::npos) {
    listen_addr = jobq::WithPort(config.listen, daemon.port());
  }
  std::string storage =
      !config.postgres.empty() ? "postgres schema " + config.postgres_schema +
                                     " (sync=" + config.sync + ")"
      : config.data_dir.empty()
          ? std::string("memory (jobs are lost when jobqd stops)")
          : "write-ahead log in " + config.data_dir + " (sync=" + config.sync +
                ")";
  std::string http_addr =
      daemon.http_port() == 0
          ? "off"
          : jobq::WithPort(config.http_listen, daemon.http_port());
  spdlog::info(
      "jobqd {} listening on {} (http {}), {} workers, storage: {}, {} command "
      "kinds, tls {}, tokens {}",
      jobq::kVersion, listen_addr, http_addr,
      config.workers > 0
          ? config.workers
          : static_cast<int>(std::thread::hardware_concurrency()),
      storage, config.commands.size(),
      config.tls_cert.empty()        ? "off"
      : config.tls_client_ca.empty() ? "on"
                                     : "on, client certificates required",
      config.auth_tokens.empty() ? "off" : "required");
}

// SIGHUP reloads the tokens file; SIGINT and SIGTERM stop; SIGUSR1 (sent
// by jobqd to itself) restarts. Returns the signal that stops.
int WaitForStop(const sigset_t& stop_signals, jobq::daemon::Daemon& daemon) {
  int sig = 0;
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
    if (auto s = daemon.ReloadTokens(); !s.ok()) {
      spdlog::error("SIGHUP: {}; the tokens in use stay", s.ToString());
    }
  }
  return sig;
}

// A restart in place keeps the ports: jobqd passes the addresses it bound
// to the new process image in these (a port 0 would otherwise change).
constexpr char kRestartListen[] = "JOBQ_RESTART_LISTEN";
constexpr char kRestartHttpListen[] = "JOBQ_RESTART_HTTP_LISTEN";

void TakeRestartAddresses(jobq::config::ServerConfig* config) {
  if (const char* a = std::getenv(kRestartListen); a != nullptr) {
    config->listen = a;
  }
  if (const char* a = std::getenv(kRestartHttpListen); a != nullptr) {
    config->http_listen = a;
  }
  unsetenv(kRestartListen);
  unsetenv(kRestartHttpListen);
}

// Starts this program again in this process (same pid, same arguments, on
// the ports it had): a jobqd that lost its leadership, or a standby that
// fell behind, comes back as a fresh standby. Returns only on failure.
int RestartInPlace(char** argv, const jobq::config::ServerConfig& config,
                   const jobq::daemon::Daemon& daemon) {
  if (config.listen.rfind(':') != std::string::npos &&
      config.listen.rfind("unix:", 0) != 0) {
    setenv(kRestartListen, jobq::WithPort(config.listen, daemon.port()).c_str(),
           1);
  }
  if (daemon.http_port() != 0) {
    setenv(kRestartHttpListen,
           jobq::WithPort(config.http_listen, daemon.http_port()).c_str(), 1);
  }
  spdlog::info("restarting");
  spdlog::shutdown();
  execv("/proc/self/exe", argv);
  std::fprintf(stderr, "jobqd: cannot restart: %s\n", std::strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // jobqd runs itself this way to start a command under its limits.
  if (argc > 1 && std::strcmp(argv[1], jobq::exec::kLimiterFlag) == 0) {
    return jobq::exec::RunWithLimits(argc, argv);
  }
  // Debian's abseil is built with assertions on, which makes every
  // absl::Mutex (gRPC's locks among them) keep a graph of lock order to
  // find deadlocks: a cost on every lock, on every call. jobqd's own
  // locks are std::mutex; the check only ever ran on gRPC's.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  jobq::config::CommandLineOutcome line =
      jobq::config::ReadCommandLine(argc, argv, std::cout, std::cerr);
  if (line.exit_code) return *line.exit_code;
  TakeRestartAddresses(&line.config);
  const jobq::config::ServerConfig& config = line.config;
  if (auto s = jobq::SetUpLogging(config.log_level, config.log_format);
      !s.ok()) {
    return Fail(std::string(s.message()));
  }
  RaiseOpenFileLimit(config);
  sigset_t stop_signals = BlockStopSignals();

  jobq::daemon::Daemon daemon(config);
  daemon.set_on_restart([](const std::string&) { kill(getpid(), SIGUSR1); });
  if (auto s = daemon.Start(); !s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  LogStart(config, daemon);
  int sig = WaitForStop(stop_signals, daemon);
  if (sig == SIGUSR1) {
    daemon.Shutdown();
    return RestartInPlace(argv, config, daemon);
  }
  spdlog::info("received {}, shutting down",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  daemon.Shutdown();
  spdlog::info("stopped");
  return 0;
}
