// jobqd: parses flags, sets up logging and signals, runs the Daemon.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <string>

#include "config/config.h"
#include "daemon/daemon.h"
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

}  // namespace

int main(int argc, char** argv) {
  using jobq::config::ParseDurationText;
  using jobq::config::ParseSizeText;

  CLI::App app{"jobqd: the jobq job-queue server"};
  app.set_version_flag("--version", std::string(jobq::kVersion));
  std::string config_path, listen, log_level, log_format, max_payload,
      retention, shutdown_grace, lease, data_dir, sync, recover, compact_min,
      http_listen, tls_cert, tls_key, tls_client_ca;
  int workers = 0;
  size_t max_finished = 0, stream_buffer = 0, max_running = 0, max_queued = 0;
  app.add_option("--config", config_path, "YAML configuration file");
  auto* o_listen = app.add_option("--listen", listen,
                                  "gRPC address (default 127.0.0.1:7070)");
  auto* o_workers = app.add_option(
      "--workers", workers, "worker event loops (default: one per core)");
  auto* o_level = app.add_option("--log-level", log_level,
                                 "trace|debug|info|warn|error (default info)");
  auto* o_format =
      app.add_option("--log-format", log_format, "text|json (default text)");
  auto* o_payload = app.add_option("--max-payload", max_payload,
                                   "largest job payload (default 1MiB)");
  auto* o_retention = app.add_option(
      "--retention", retention, "how long finished jobs are kept (default 1h)");
  auto* o_finished =
      app.add_option("--max-finished", max_finished,
                     "finished jobs kept at most (default 100000)");
  auto* o_grace = app.add_option(
      "--shutdown-grace", shutdown_grace,
      "time running jobs get to finish on SIGTERM (default 30s)");
  auto* o_lease = app.add_option(
      "--lease", lease,
      "how long a remote worker holds a job without a word (default 30s)");
  auto* o_buffer = app.add_option(
      "--stream-buffer", stream_buffer,
      "events waiting for one stream before it is cut off (default 10000)");
  auto* o_running = app.add_option(
      "--max-running", max_running,
      "jobs running at once on the built-in handlers (default 100000)");
  auto* o_max_queued = app.add_option(
      "--max-queued", max_queued,
      "unfinished jobs a queue accepts at most, unless it has its own "
      "limit (default 0: none)");
  auto* o_data = app.add_option(
      "--data-dir", data_dir,
      "write-ahead log directory (default: none, jobs in memory only)");
  auto* o_sync =
      app.add_option("--sync", sync,
                     "fsync: ack after fdatasync (default); none: after write");
  auto* o_recover = app.add_option(
      "--recover", recover,
      "strict (default): stop at a corrupt record; skip-corrupt: skip it");
  auto* o_compact = app.add_option(
      "--compact-min", compact_min,
      "compact the log once it is larger than this (default 64MiB)");
  auto* o_http = app.add_option(
      "--http-listen", http_listen,
      "HTTP address of /metrics, /healthz, /readyz (default 127.0.0.1:7071; "
      "empty: off)");
  auto* o_tls_cert = app.add_option(
      "--tls-cert", tls_cert, "PEM certificate chain: serve gRPC over TLS");
  auto* o_tls_key =
      app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert");
  auto* o_tls_ca = app.add_option(
      "--tls-client-ca", tls_client_ca,
      "PEM CA: require client certificates it signed (mutual TLS)");
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
  if (o_listen->count()) config.listen = listen;
  if (o_http->count()) config.http_listen = http_listen;
  if (o_workers->count()) {
    if (workers < 0 || workers > 256) return Fail("--workers: 0 to 256");
    config.workers = workers;
  }
  if (o_level->count()) config.log_level = log_level;
  if (o_format->count()) config.log_format = log_format;
  if (o_payload->count() && !ParseSizeText(max_payload, &config.max_payload)) {
    return Fail("--max-payload: a size such as 1048576 or 1MiB");
  }
  if (o_retention->count() &&
      !ParseDurationText(retention, &config.retention)) {
    return Fail("--retention: a duration such as 1h or 30m");
  }
  if (o_finished->count()) config.max_finished = max_finished;
  if (o_grace->count() &&
      !ParseDurationText(shutdown_grace, &config.shutdown_grace)) {
    return Fail("--shutdown-grace: a duration such as 30s");
  }
  if (o_lease->count() && (!ParseDurationText(lease, &config.lease) ||
                           config.lease < jobq::kSecond)) {
    return Fail("--lease: a duration of at least 1s, such as 30s");
  }
  if (o_buffer->count()) config.stream_buffer = stream_buffer;
  if (o_tls_cert->count()) config.tls_cert = tls_cert;
  if (o_tls_key->count()) config.tls_key = tls_key;
  if (o_tls_ca->count()) config.tls_client_ca = tls_client_ca;
  if (o_running->count()) config.max_running = max_running;
  if (o_max_queued->count()) config.max_queued = max_queued;
  if (o_data->count()) config.data_dir = data_dir;
  if (o_sync->count()) config.sync = sync;
  if (o_recover->count()) config.recover = recover;
  if (o_compact->count() &&
      !ParseSizeText(compact_min, &config.compact_min_bytes)) {
    return Fail("--compact-min: a size such as 64MiB");
  }
  if (config.sync != "fsync" && config.sync != "none") {
    return Fail("--sync: fsync or none");
  }
  if (config.recover != "strict" && config.recover != "skip-corrupt") {
    return Fail("--recover: strict or skip-corrupt");
  }
  if (config.stream_buffer == 0) return Fail("--stream-buffer: at least 1");
  if (config.max_running == 0) return Fail("--max-running: at least 1");

  if (auto s = jobq::SetUpLogging(config.log_level, config.log_format);
      !s.ok()) {
    return Fail(std::string(s.message()));
  }

  // Signals are taken by sigwait below; every thread started from here on
  // inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
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
      "kinds, tls {}",
      jobq::kVersion, listen_addr, http_addr,
      config.workers > 0
          ? config.workers
          : static_cast<int>(std::thread::hardware_concurrency()),
      storage, config.commands.size(),
      config.tls_cert.empty()        ? "off"
      : config.tls_client_ca.empty() ? "on"
                                     : "on, client certificates required");

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, shutting down",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  daemon.Shutdown();
  spdlog::info("stopped");
  return 0;
}
