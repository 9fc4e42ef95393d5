#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "api/admin_service.h"
#include "api/job_service.h"
#include "api/rpc_metrics.h"
#include "api/schedule_service.h"
#include "api/service_context.h"
#include "api/worker_service.h"
#include "common/clock.h"
#include "config/config.h"
#include "daemon/listener.h"
#include "daemon/metrics.h"
#include "engine/core_api.h"
#include "engine/core_loop.h"
#include "exec/worker_pool.h"
#include "http/http_server.h"
#include "store/env.h"
#include "store/log.h"
#include "store/pg_leader.h"
#include "store/pg_log.h"
#include "web/dashboard.h"

namespace jobq::daemon {

using engine::CoreContext;
using engine::CoreLoop;

// jobqd assembled: the core loop, the worker pool and the gRPC server with
// the job, admin, health and reflection services.
// Thread: Start and Shutdown from one controlling thread.
class Daemon {
 public:
  // `clock` and `env` must outlive the daemon; null means the system clock
  // and the POSIX file system.
  explicit Daemon(config::ServerConfig config, const Clock* clock = nullptr,
                  store::Env* env = nullptr);
  ~Daemon();

  // Recovers the write-ahead log (with --data-dir), binds the listen
  // address and starts serving. With --postgres, a node that does not
  // become the leader at once returns as a standby: it refuses work
  // (naming the leader) and follows the log until it takes over.
  [[nodiscard]] absl::Status Start();
  // Called once, from any thread, when this jobqd must start afresh as a
  // standby (another node took its leadership, or it fell behind a
  // compaction as a standby); `why` says which. The owner then stops the
  // daemon and starts the process again (main: in place, same ports).
  void set_on_restart(std::function<void(const std::string& why)> f) {
    on_restart_ = std::move(f);
  }
  // This jobqd is a standby now (not the leader of its cluster).
  bool standby() const { return ctx_.standby.load(); }
  // The ports bound (useful with port 0); 0 for HTTP when it is off.
  int port() const { return port_.load(); }
  int http_port() const { return http_port_.load(); }

  // Reads the tokens file again (SIGHUP): calls from now on use the new
  // tokens. An error keeps the old ones.
  [[nodiscard]] absl::Status ReloadTokens();

  // What start-up warns of (--insecure).
  const std::vector<std::string>& warnings() const { return ctx_.warnings; }

  // Stops accepting work, lets running jobs finish within the grace period,
  // ends open streams with UNAVAILABLE, stops the server and every loop.
  void Shutdown();

 private:
  absl::Status OpenStorage(CoreLoop::Options* options);
  // Loads the tokens, and refuses a non-loopback listener without TLS and
  // tokens unless --insecure.
  absl::Status SetUpAuth();
  absl::Status StartServers();
  // Plain, or TLS (and mutual TLS) as configured; INVALID_ARGUMENT naming
  // the flag for a missing half or an unreadable file.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials()
      const;
  absl::Status Recover();
  // Replays the log into the scheduler; the rest of recovery is
  // FinishRecovery, at once or when a standby takes over.
  absl::Status ReplayLog();
  // `keep_remote`: remote workers' leases stay (a takeover).
  absl::Status FinishRecovery(bool keep_remote = false);
  // Starts the pool and the core and serves.
  void GoLive();

  // Leadership (--postgres), in standby.cc. Campaigns once: leads at once,
  // or starts the standby thread.
  absl::Status StartCluster();
  void StandbyLoop();
  // Takes the log from a standby's to the leader's and goes live.
  absl::Status Promote(const store::LeaderView& view);
  // Another node leads now, or this standby must rebuild its state.
  void Restart(const std::string& why);
  void StopStandby();
  // The file's per-queue limits (`queues`), after recovery. Main thread,
  // before the core thread starts.
  void ApplyQueueConfig();
  // Empty when jobqd takes work; otherwise why not.
  std::string NotReady() const;

  config::ServerConfig config_;
  SystemClock system_clock_;
  const Clock* clock_;
  store::Env* env_;
  exec::CommandTable commands_;
  api::ServiceContext ctx_;
  std::unique_ptr<auth::Authorizer> auth_;
  std::unique_ptr<store::Log> log_;  // Null in memory mode.
  store::PgLog* pg_log_ = nullptr;   // log_, with --postgres.
  std::unique_ptr<store::PgLeader> leader_;
  ClusterFigures cluster_;
  std::function<void(const std::string&)> on_restart_;
  std::atomic<bool> restarting_{false};
  std::thread standby_thread_;
  std::mutex standby_mu_;
  std::condition_variable standby_cv_;
  bool standby_stop_ = false;  // Guarded by standby_mu_.
  std::unique_ptr<CoreLoop> core_;
  std::unique_ptr<engine::CoreApi> core_api_;
  TimeUs started_at_ = 0;
  std::unique_ptr<exec::WorkerPool> pool_;
  std::unique_ptr<api::JobServiceImpl> job_service_;
  std::unique_ptr<api::AdminServiceImpl> admin_service_;
  std::unique_ptr<api::ScheduleServiceImpl> schedule_service_;
  std::unique_ptr<api::WorkerServiceImpl> worker_service_;
  api::RpcMetrics rpc_metrics_;
  std::unique_ptr<web::Dashboard> dashboard_;  // With the HTTP listener.
  std::unique_ptr<http::HttpServer> http_;
  std::unique_ptr<Listener> listener_;  // Null for a Unix socket.
  std::unique_ptr<grpc::Server> server_;
  // The server once it serves, for the core thread's failure report.
  std::atomic<grpc::Server*> serving_{nullptr};
  std::atomic<int> port_{0};  // Set once the server is up (before recovery).
  std::atomic<int> http_port_{0};
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace jobq::daemon
