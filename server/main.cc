// jobqd: parses flags, sets up logging and signals, runs the Daemon.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

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

// A flag of jobqd: the config key it sets and its help. Every key of the
// YAML file that is a plain value has one.
struct Flag {
  const char* key;
  const char* help;
};

constexpr Flag kFlags[] = {
    {"listen", "gRPC address (default 127.0.0.1:7070)"},
    {"http_listen",
     "HTTP address of /metrics, /healthz, /readyz (default 127.0.0.1:7071; "
     "empty: off)"},
    {"workers", "worker event loops (default: one per core)"},
    {"log_level", "trace|debug|info|warn|error (default info)"},
    {"log_format", "text|json (default text)"},
    {"max_payload", "largest job payload (default 1MiB)"},
    {"retention", "how long finished jobs are kept (default 1h)"},
    {"max_finished", "finished jobs kept at most (default 100000)"},
    {"shutdown_grace",
     "time running jobs get to finish on SIGTERM (default 30s)"},
    {"lease",
     "how long a remote worker holds a job without a word (default 30s)"},
    {"stream_buffer",
     "events waiting for one stream before it is cut off (default 10000)"},
    {"max_stream_memory",
     "bytes all event streams may buffer together; past it the slowest "
     "are cut off (default 256MiB)"},
    {"max_running",
     "jobs running at once on the built-in handlers (default 100000)"},
    {"max_queued",
     "unfinished jobs a queue accepts at most, unless it has its own limit "
     "(default 0: none)"},
    {"data_dir",
     "write-ahead log directory (default: none, jobs in memory only)"},
    {"sync", "fsync: ack after fdatasync (default); none: after write"},
    {"recover",
     "strict (default): stop at a corrupt record; skip-corrupt: skip it"},
    {"compact_min_bytes",
     "compact the log once it is larger than this (default 64MiB)"},
    {"tls_cert", "PEM certificate chain: serve gRPC and HTTP over TLS"},
    {"tls_key", "PEM private key of --tls-cert"},
    {"tls_client_ca",
     "PEM CA: require client certificates it signed (mutual TLS)"},
    {"auth_tokens",
     "YAML file of token hashes with roles: require a bearer token"},
    {"submit_rate",
     "jobs/s each token may submit (without tokens: all callers together); "
     "default 0: no limit"},
    {"submit_burst", "jobs a token may submit at once above --submit-rate"},
    {"max_connections",
     "client connections open at once; past it a new one is closed "
     "(default 10000; 0: no limit)"},
    {"max_streams_per_connection",
     "HTTP/2 streams one connection may have open (default 1000)"},
    {"max_message_size", "largest gRPC message (default 64MiB)"},
    {"max_watchers_per_queue",
     "Watch streams on one queue at once (default 10000; 0: no limit)"},
    {"command_user",
     "user that commands run as when jobqd runs as root (default nobody)"},
    {"command_group", "group of --command-user (default: the user's own)"},
};

}  // namespace

int main(int argc, char** argv) {
  // jobqd runs itself this way to start a command under its limits.
  if (argc > 1 && std::strcmp(argv[1], jobq::exec::kLimiterFlag) == 0) {
    return jobq::exec::RunWithLimits(argc, argv);
  }
  CLI::App app{"jobqd: the jobq job-queue server"};
  app.set_version_flag("--version", std::string(jobq::kVersion));
  std::string config_path;
  app.add_option("--config", config_path, "YAML configuration file");
  // Flags take text, checked as the file's values are.
  std::vector<std::pair<CLI::Option*, std::string>> values;
  values.reserve(std::size(kFlags));
  for (const Flag& f : kFlags) {
    std::string name = std::string("--") + f.key;
    std::replace(name.begin(), name.end(), '_', '-');
    if (name == "--compact-min-bytes") name = "--compact-min";
    values.emplace_back(nullptr, "");
    values.back().first = app.add_option(name, values.back().second, f.help);
  }
  bool insecure = false;
  CLI::Option* o_insecure = app.add_flag(
      "--insecure", insecure,
      "serve a non-loopback address without TLS or tokens (warned about)");
  bool metrics_public = false;
  CLI::Option* o_metrics_public = app.add_flag(
      "--metrics-public", metrics_public,
      "serve /metrics without a token even with --auth-tokens (warned about)");
  // Every flag can also come from the environment: --max-payload from
  // JOBQ_MAX_PAYLOAD, and so on (a flag given on the command line wins).
  for (CLI::Option* o : app.get_options()) {
    std::string name = o->get_name();  // "--max-payload"
    if (name.rfind("--", 0) != 0 || name == "--help" || name == "--version") {
      continue;
    }
    std::string env = "JOBQ_";
    for (char ch : name.substr(2)) {
      env += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
    }
    o->envname(env);
  }
  CLI11_PARSE(app, argc, argv);

  jobq::config::ServerConfig config;
  if (!config_path.empty()) {
    if (auto s = jobq::config::LoadConfigFile(config_path, &config); !s.ok()) {
      return Fail(std::string(s.message()));
    }
  }
  // Flags given on the command line override the file.
  std::vector<std::pair<std::string, std::string>> given;
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].first->count() > 0) {
      given.emplace_back(kFlags[i].key, values[i].second);
    }
  }
  if (o_insecure->count() > 0) {
    given.emplace_back("insecure", insecure ? "true" : "false");
  }
  if (o_metrics_public->count() > 0) {
    given.emplace_back("metrics_public", metrics_public ? "true" : "false");
  }
  if (auto s = jobq::config::ApplyFlags(given, &config); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (auto s = jobq::config::ValidateConfig(config); !s.ok()) {
    return Fail(std::string(s.message()));
  }

  if (auto s = jobq::SetUpLogging(config.log_level, config.log_format);
      !s.ok()) {
    return Fail(std::string(s.message()));
  }

  // Connections, log segments and commands' pipes are file descriptors:
  // take all the kernel allows.
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

  // Signals are taken by sigwait below; every thread started from here on
  // inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  jobq::daemon::Daemon daemon(config);
  if (auto s = daemon.Start(); !s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  std::string listen_addr = config.listen;
  if (auto colon = listen_addr.rfind(':'); colon != std::string::npos) {
    listen_addr =
        listen_addr.substr(0, colon + 1) + std::to_string(daemon.port());
  }
  std::string storage =
      config.data_dir.empty()
          ? std::string("memory (jobs are lost when jobqd stops)")
          : "write-ahead log in " + config.data_dir + " (sync=" + config.sync +
                ")";
  std::string http_addr = "off";
  if (daemon.http_port() != 0) {
    http_addr =
        config.http_listen.substr(0, config.http_listen.rfind(':') + 1) +
        std::to_string(daemon.http_port());
  }
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

  int sig = 0;
  // SIGHUP reloads the tokens file; SIGINT and SIGTERM stop.
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
    if (auto s = daemon.ReloadTokens(); !s.ok()) {
      spdlog::error("SIGHUP: {}; the tokens in use stay", s.ToString());
    }
  }
  spdlog::info("received {}, shutting down",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  daemon.Shutdown();
  spdlog::info("stopped");
  return 0;
}
