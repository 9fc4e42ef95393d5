#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>

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
#include "engine/core_api.h"
#include "engine/core_loop.h"
#include "exec/worker_pool.h"
#include "http/http_server.h"
#include "store/env.h"
#include "store/log.h"
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
  // address and starts serving.
  [[nodiscard]] absl::Status Start();
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
