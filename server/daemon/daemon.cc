#include "daemon/daemon.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/leader_hint.h"
#include "common/host_port.h"
#include "common/pem.h"
#include "core/job.h"
#include "daemon/metrics.h"
#include "store/pg_log.h"
#include "store/wal.h"
#include "version.h"

namespace jobq::daemon {
namespace {

// True for an address only this host can reach: 127.0.0.0/8, ::1,
// localhost, or a Unix socket.
bool IsLoopback(const std::string& listen) {
  if (absl::StartsWith(listen, "unix:")) return true;
  std::string host;
  int port = 0;
  if (!SplitHostPort(listen, "--listen", &host, &port).ok()) return false;
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

}  // namespace

Daemon::Daemon(config::ServerConfig config, const Clock* clock, store::Env* env)
    : config_(std::move(config)),
      clock_(clock != nullptr ? clock : &system_clock_),
      env_(env),
      commands_(config_.commands.begin(), config_.commands.end()) {
  exec::ApplyDefaultLimits(config_.command_limits, &commands_);
  if (config_.workers <= 0) {
    config_.workers =
        std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  ctx_.limits.max_payload = config_.max_payload;
  ctx_.limits.clock = clock_;
  ctx_.outbound.max_items = config_.stream_buffer;
  ctx_.stream_budget.set_max_bytes(config_.max_stream_memory);
  ctx_.outbound.budget = &ctx_.stream_budget;
  ctx_.outbound.hops = &ctx_.hops;
  ctx_.version = kVersion;
  ctx_.workers = config_.workers;
  ctx_.bulk_replies = std::make_unique<TaskThread>("jobq-replies", 10);
}

absl::Status Daemon::SetUpAuth() {
  std::shared_ptr<const auth::TokenTable> tokens;
  if (!config_.auth_tokens.empty()) {
    auto table = auth::TokenTable::Load(config_.auth_tokens);
    if (!table.ok()) return table.status();
    tokens = *std::move(table);
    spdlog::info("{} tokens from {}", tokens->tokens().size(),
                 config_.auth_tokens);
  }
  auth_ = std::make_unique<auth::Authorizer>(
      std::move(tokens),
      auth::RateLimit{config_.submit_rate, config_.submit_burst}, clock_);
  ctx_.auth = auth_.get();
  if (config_.metrics_public && !config_.auth_tokens.empty() &&
      !config_.http_listen.empty()) {
    std::string what =
        "/metrics is served without a token: whoever reaches --http-listen "
        "sees every queue's name and counts";
    ctx_.warnings.push_back(absl::StrCat("metrics_public: ", what));
    spdlog::warn("--metrics-public: {}", what);
  }
  if (IsLoopback(config_.listen)) return absl::OkStatus();
  std::vector<std::string> missing;
  if (config_.tls_cert.empty())
    missing.push_back("TLS (--tls-cert, --tls-key)");
  if (config_.auth_tokens.empty()) missing.push_back("tokens (--auth-tokens)");
  if (missing.empty()) return absl::OkStatus();
  std::string what =
      absl::StrCat(config_.listen, " is not a loopback address and ",
                   absl::StrJoin(missing, " and "), " are off");
  if (!config_.insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--listen: ", what,
        ": anyone who reaches it may submit, read and run jobs. Turn them "
        "on, or give --insecure to serve it anyway"));
  }
  ctx_.warnings.push_back(absl::StrCat("insecure: ", what));
  spdlog::warn(
      "--insecure: {}; anyone who reaches it may submit, read and "
      "run jobs",
      what);
  return absl::OkStatus();
}

absl::Status Daemon::ReloadTokens() {
  if (config_.auth_tokens.empty() || auth_ == nullptr) {
    return absl::FailedPreconditionError("no --auth-tokens to reload");
  }
  auto table = auth::TokenTable::Load(config_.auth_tokens);
  if (!table.ok()) return table.status();
  spdlog::info("reloaded {} tokens from {}", (*table)->tokens().size(),
               config_.auth_tokens);
  auth_->SetTokens(*std::move(table));
  return absl::OkStatus();
}

Daemon::~Daemon() { Shutdown(); }

absl::Status Daemon::OpenStorage(CoreLoop::Options* options) {
  if (!config_.postgres.empty()) {
    store::PgLogOptions pg;
    pg.conninfo = config_.postgres;
    pg.schema = config_.postgres_schema;
    pg.sync = config_.sync != "none";
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    pg.holder = absl::StrCat(host, " pid ", getpid());
    pg.on_deposed = [this](const absl::Status& why) {
      Restart(std::string(why.message()));
    };
    auto log = store::PgLog::Open(std::move(pg));
    if (!log.ok()) return log.status();
    pg_log_ = log->get();
    log_ = std::move(*log);
    options->log = log_.get();
    options->compaction.min_bytes = config_.compact_min_bytes;
    return absl::OkStatus();
  }
  if (config_.data_dir.empty()) return absl::OkStatus();
  store::WalOptions wal_options;
  wal_options.dir = config_.data_dir;
  wal_options.sync = config_.sync != "none";
  wal_options.skip_corrupt = config_.recover == "skip-corrupt";
  wal_options.env = env_;
  auto wal = store::Wal::Open(wal_options);
  if (!wal.ok()) return wal.status();
  log_ = std::move(*wal);
  options->log = log_.get();
  options->compaction.min_bytes = config_.compact_min_bytes;
  return absl::OkStatus();
}

namespace {

// What --recover=skip-corrupt passed over, in the words an operator needs:
// where, how much, and which jobs are known to be gone.
void ReportSkipped(const store::RecoveryStats& stats) {
  for (const auto& r : stats.skipped) {
    spdlog::warn(
        "recovery skipped {} bytes (at least {} records) at offset {} of {}, "
        "between job {} and job {}",
        r.bytes, r.records, r.offset, r.file,
        r.seq_before ? core::FormatJobId(r.seq_before) : "(none)",
        r.seq_after ? core::FormatJobId(r.seq_after) : "(none)");
  }
  constexpr size_t kListed = 50;
  std::string ids;
  for (size_t i = 0; i < stats.lost_jobs.size() && i < kListed; ++i) {
    absl::StrAppend(&ids, i ? " " : "", core::FormatJobId(stats.lost_jobs[i]));
  }
  if (stats.lost_jobs.size() > kListed) absl::StrAppend(&ids, " ...");
  spdlog::error(
      "recovery DROPPED DATA: {} damaged stretches, {} bytes, at least {} "
      "records, {} missing segments; {} jobs are known lost (later records "
      "refer to them): {}; jobs only submitted inside the damage cannot be "
      "named",
      stats.skipped.size(), stats.skipped_bytes, stats.skipped_records,
      stats.missing_segments.size(), stats.lost_jobs.size(),
      ids.empty() ? "none" : ids);
}

}  // namespace

void Daemon::ApplyQueueConfig() {
  // After recovery, so that the file's limits win over the log's; logged
  // like any change of limits.
  for (const auto& [name, q] : config_.queues) {
    core_->scheduler().SetQueueLimits(
        name, core::QueueLimits{.max_concurrency = q.max_concurrency,
                                .max_queued = q.max_queued,
                                .rate = q.rate,
                                .burst = q.burst});
  }
}

absl::Status Daemon::Recover() {
  if (log_ == nullptr) {
    ApplyQueueConfig();
    return absl::OkStatus();
  }
  if (absl::Status s = ReplayLog(); !s.ok()) return s;
  return FinishRecovery();
}

absl::Status Daemon::ReplayLog() {
  auto t0 = std::chrono::steady_clock::now();
  core::Scheduler& scheduler = core_->scheduler();
  auto stats = log_->Recover(
      [&scheduler](const wal::v1::Transition& t) { scheduler.Apply(t); });
  if (!stats.ok()) return stats.status();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  spdlog::info(
      "recovered {} jobs ({} unfinished) from {} records in {} segments ({} "
      "bytes) in {} ms",
      scheduler.jobs().size(), scheduler.live(), stats->records,
      stats->segments, stats->bytes, ms);
  if (stats->torn_bytes > 0) {
    spdlog::warn(
        "recovery cut a torn tail of {} bytes (a write the crash "
        "interrupted, never acknowledged)",
        stats->torn_bytes);
  }
  if (!stats->skipped.empty() || !stats->missing_segments.empty()) {
    ReportSkipped(*stats);
  }
  return absl::OkStatus();
}

absl::Status Daemon::FinishRecovery(bool keep_remote) {
  core::Scheduler& scheduler = core_->scheduler();
  size_t requeued = scheduler.RequeueRunning(clock_->Now(), keep_remote);
  if (requeued > 0) {
    spdlog::info(
        "{} jobs were running when the last leader stopped: READY again, or "
        "DEAD when out of attempts",
        requeued);
  }
  // Slots missed while down: skipped, or fired once (the schedule's
  // catch-up policy) on the core's first turn.
  scheduler.CatchUpSchedules(clock_->Now());
  ApplyQueueConfig();
  CoreLoop* core = core_.get();
  return log_->Start(core->CommitCallback(), core->LogEvents());
}

void Daemon::GoLive() {
  pool_->Start();
  core_->Start(pool_.get());
  ctx_.recovering.store(false);
  // Serving unless the log already failed (during recovery's first write).
  server_->GetHealthCheckService()->SetServingStatus(NotReady().empty());
  serving_.store(server_.get());
}

absl::Status Daemon::Start() {
  for (const auto& kind : {"noop", "sleep"}) {
    if (commands_.count(kind)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: commands.", kind, ": the name of a built-in kind"));
    }
  }
  if (absl::Status s = SetUpAuth(); !s.ok()) return s;
  CoreLoop::Options core_options;
  core_options.scheduler.retention = config_.retention;
  core_options.scheduler.max_finished = config_.max_finished;
  core_options.scheduler.dead_retention = config_.dead_retention;
  core_options.scheduler.max_dead = config_.max_dead;
  core_options.scheduler.idempotency_window = config_.idempotency_window;
  core_options.scheduler.random = [gen = std::make_shared<absl::BitGen>()] {
    return absl::Uniform(*gen, 0.0, 1.0);
  };
  core_options.scheduler.is_local = [this](const std::string& kind) {
    return kind == "noop" || kind == "sleep" || commands_.contains(kind);
  };
  core_options.max_running = config_.max_running;
  core_options.scheduler.max_queued = static_cast<int64_t>(config_.max_queued);
  core_options.workers.lease = config_.lease;
  core_options.workers.heartbeat_interval = config_.lease / 3;
  core_options.workers.max_result = config_.max_payload;
  if (absl::Status s = OpenStorage(&core_options); !s.ok()) return s;
  core_options.on_log_health = [this](const absl::Status& s) {
    // NOT_SERVING while the log cannot write (a full disk: until it can
    // again) or has failed for good.
    grpc::Server* server = serving_.load();
    if (server != nullptr) {
      server->GetHealthCheckService()->SetServingStatus(s.ok() &&
                                                        NotReady().empty());
    }
  };
  core_options.hops = &ctx_.hops;
  core_ = std::make_unique<CoreLoop>(std::move(core_options), clock_);
  started_at_ = clock_->Now();
  core_api_ = std::make_unique<engine::CoreApi>(
      core_.get(), engine::CoreApi::Options{
                       .max_watchers_per_queue = config_.max_watchers_per_queue,
                       .started_at = started_at_});
  ctx_.core = core_api_.get();
  // Runs first, before any stream can subscribe.
  core_->Post([budget = &ctx_.stream_budget,
               hops = &ctx_.hops](CoreContext& core) {
    core.hub.Configure({.budget = budget, .flush_thread = true, .hops = hops});
  });
  CoreLoop* core = core_.get();
  exec::SpawnOptions spawn;
  if (!commands_.empty()) {
    if (absl::Status s = exec::ResolveRunAs(config_.command_user,
                                            config_.command_group, &spawn);
        !s.ok()) {
      return s;
    }
    if (spawn.uid) {
      spdlog::info("commands run as uid {} gid {} ({})", *spawn.uid, *spawn.gid,
                   config_.command_user);
    }
  }
  pool_ = std::make_unique<exec::WorkerPool>(
      config_.workers, &commands_,
      [core](std::vector<core::RunResult>&& results) {
        core->PostResults(std::move(results));
      },
      spawn, &ctx_.hops);
  started_ = true;
  // Up first, refusing work and NOT_SERVING while the log is replayed.
  if (absl::Status s = StartServers(); !s.ok()) return s;
  if (pg_log_ != nullptr) {
    if (absl::Status s = ReplayLog(); !s.ok()) return s;
    return StartCluster();
  }
  if (absl::Status s = Recover(); !s.ok()) return s;
  GoLive();
  return absl::OkStatus();
}

absl::Status Daemon::StartServers() {
  job_service_ = std::make_unique<api::JobServiceImpl>(&ctx_);
  admin_service_ = std::make_unique<api::AdminServiceImpl>(&ctx_);
  schedule_service_ = std::make_unique<api::ScheduleServiceImpl>(&ctx_);
  worker_service_ = std::make_unique<api::WorkerServiceImpl>(&ctx_);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto credentials = ServerCredentials();
  if (!credentials.ok()) return credentials.status();
  grpc::ServerBuilder builder;
  int port = 0;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor;
  if (absl::StartsWith(config_.listen, "unix:")) {
    builder.AddListeningPort(config_.listen, *credentials, &port);
  } else {
    // jobqd accepts TCP connections itself, to hold them to
    // --max-connections, and hands them to gRPC.
    listener_ = std::make_unique<Listener>(config_.max_connections);
    if (absl::Status s = listener_->Bind(config_.listen); !s.ok()) return s;
    port = listener_->port();
    acceptor = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
        *credentials);
  }
  builder.SetMaxReceiveMessageSize(static_cast<int>(config_.max_message_size));
  builder.SetMaxSendMessageSize(static_cast<int>(config_.max_message_size));
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONCURRENT_STREAMS,
      static_cast<int>(config_.max_streams_per_connection));
  builder.RegisterService(job_service_.get());
  builder.RegisterService(admin_service_.get());
  builder.RegisterService(schedule_service_.get());
  builder.RegisterService(worker_service_.get());
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      std::make_unique<api::RpcMetricsInterceptorFactory>(&rpc_metrics_));
  interceptors.push_back(
      std::make_unique<api::LeaderHintInterceptorFactory>(&ctx_));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server_ = builder.BuildAndStart();
  port_.store(port);
  if (server_ == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config_.listen));
  }
  // Only now, with the server started: gRPC drops a connection handed to
  // an acceptor before that without handling or closing it (its client
  // would hang). Until then connections wait in the listen backlog. The
  // start-up line is logged after Start() returns, once SERVING.
  if (listener_ != nullptr) listener_->Start(std::move(acceptor));
  server_->GetHealthCheckService()->SetServingStatus(false);

  if (config_.http_listen.empty()) return absl::OkStatus();
  MetricsSources sources{
      core_api_.get(), log_.get(),
      &rpc_metrics_,   kVersion,
      started_at_,     &ctx_,
      listener_.get(), pg_log_ != nullptr ? &cluster_ : nullptr,
      pg_log_};
  http::HttpServer::Handlers handlers{
      [sources] { return RenderMetrics(sources); },
      [this] { return NotReady(); }, nullptr, nullptr};
  // With tokens on, /metrics (which names every queue) needs the read role,
  // unless the operator opted out with --metrics-public.
  if (auth_->enabled() && !config_.metrics_public) {
    auth::Authorizer* auth = auth_.get();
    handlers.authorize_metrics = [auth](std::optional<absl::string_view> h) {
      return auth->AuthenticateHeader(h, auth::kRead).status();
    };
  }
  dashboard_ = std::make_unique<web::Dashboard>(
      web::JsonApi::Deps{core_api_.get(), auth_.get(), &ctx_, nullptr}, clock_,
      web::Dashboard::Options{});
  handlers.pages = [dashboard = dashboard_.get()](
                       const http::HttpServer::Request& req,
                       http::HttpServer::Response* res) {
    dashboard->Serve(req, res);
  };
  dashboard_->Start();
  http_ = std::make_unique<http::HttpServer>(
      std::move(handlers),
      http::HttpServer::Tls{config_.tls_cert, config_.tls_key,
                            config_.tls_client_ca});
  absl::Status s = http_->Start(config_.http_listen);
  http_port_.store(http_->port());
  return s;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>>
Daemon::ServerCredentials() const {
  if (config_.tls_cert.empty() != config_.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key: give both, or neither");
  }
  if (config_.tls_cert.empty()) {
    if (!config_.tls_client_ca.empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca: needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }

  auto cert = ReadPemFile("--tls-cert", config_.tls_cert);
  if (!cert.ok()) return cert.status();
  auto key = ReadPemFile("--tls-key", config_.tls_key);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!config_.tls_client_ca.empty()) {
    auto ca = ReadPemFile("--tls-client-ca", config_.tls_client_ca);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

std::string Daemon::NotReady() const {
  if (ctx_.recovering.load() && ctx_.standby.load()) {
    std::string leader = ctx_.leader.address();
    return leader.empty() ? "standby: no leader yet"
                          : "standby: the leader is " + leader;
  }
  if (ctx_.recovering.load()) return "recovering the write-ahead log";
  if (ctx_.shutting_down.load()) return "shutting down";
  if (log_ != nullptr) {
    store::WalStats stats = log_->Stats();
    if (!stats.failure.empty()) {
      return "write-ahead log failed: " + stats.failure;
    }
    if (!stats.stalled.empty()) {
      return "write-ahead log cannot write (retrying): " + stats.stalled;
    }
  }
  return "";
}

void Daemon::Shutdown() {
  if (stopped_ || !started_) return;
  stopped_ = true;
  StopStandby();
  if (core_ == nullptr || server_ == nullptr || ctx_.recovering.load()) {
    // Start failed half way: stop what runs.
    ctx_.shutting_down.store(true);
    if (http_ != nullptr) http_->Stop();
    if (dashboard_ != nullptr) dashboard_->Stop();
    if (listener_ != nullptr) listener_->Stop();
    if (server_ != nullptr) server_->Shutdown();
    if (pool_ != nullptr) pool_->Stop();
    if (core_ != nullptr) core_->Stop();
    if (log_ != nullptr) log_->Stop();
    return;
  }
  ctx_.shutting_down.store(true);
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->SetServingStatus(false);
  }
  // A jobqd that lost its leadership stops at once: the new leader runs
  // again what it was running.
  size_t left = core_->Drain(restarting_.load() ? 0 : config_.shutdown_grace);
  if (left > 0) {
    spdlog::warn(
        "shutdown: {} jobs still running after the grace period; "
        "stopping them",
        left);
  }
  // End every open stream, so that the server does not wait for them.
  auto closed = std::make_shared<std::promise<void>>();
  std::future<void> closed_future = closed->get_future();
  // A deposed leader's log stores nothing more: what waits on it is
  // answered UNAVAILABLE now, before the server's end would cancel it.
  const bool deposed = restarting_.load();
  if (core_->Post([closed, deposed](CoreContext& core) {
        core.hub.CloseAll(api::Unavailable());
        core.workers.CloseAll(api::Unavailable());
        core.loop.acks().AbandonWaiting(
            absl::UnavailableError(
                deposed ? "jobqd lost the leadership and starts again as a "
                          "standby: this change may not have been stored"
                        : "jobqd is shutting down while its write-ahead log "
                          "cannot write: this change may not have been stored"),
            deposed);
        closed->set_value();
      })) {
    closed_future.wait();
  }
  // Let the ended streams finish, then stop the server. Only idle
  // connections and unary calls (answered at once) remain by then; the
  // short deadline closes connections whose clients do not go away on
  // GOAWAY, which would otherwise hold the shutdown.
  if (!ctx_.streams.WaitNone(std::chrono::seconds(2))) {
    spdlog::warn("shutdown: {} streams did not end in time; cancelling them",
                 ctx_.streams.open());
  }
  if (listener_ != nullptr) listener_->Stop();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(250));
  }
  pool_->Stop();
  core_->Stop();
  if (log_ != nullptr) log_->Stop();  // Writes the last batch.
  // With the last batch stored: a standby may take over at once.
  if (leader_ != nullptr) leader_->Resign();
  if (server_ != nullptr) server_->Wait();
  if (http_ != nullptr) http_->Stop();
  if (dashboard_ != nullptr) dashboard_->Stop();
}

}  // namespace jobq::daemon
