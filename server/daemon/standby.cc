// A jobqd in a cluster on PostgreSQL (docs/postgresql.md, "Standbys and
// failover"): leading, or standing by and following the leader's log until
// it takes over.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "daemon/daemon.h"

namespace jobq::daemon {
namespace {

using namespace std::chrono_literals;

// Where clients reach this jobqd: --advertise-address, else the listen
// address with the port it got.
std::string AdvertisedAddress(const config::ServerConfig& config, int port) {
  if (!config.advertise_address.empty()) return config.advertise_address;
  const std::string& listen = config.listen;
  if (absl::StartsWith(listen, "unix:")) return listen;
  return WithPort(listen, port);
}

}  // namespace

absl::Status Daemon::StartCluster() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  store::PgLeaderOptions options{
      .conninfo = config_.postgres,
      .schema = config_.postgres_schema,
      .holder = absl::StrCat(host, " pid ", getpid()),
      .address = AdvertisedAddress(config_, port_.load()),
      .lease = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::microseconds(config_.leader_lease))};
  auto leader = store::PgLeader::Connect(std::move(options));
  if (!leader.ok()) return leader.status();
  leader_ = std::move(*leader);
  cluster_.pg_leader.store(leader_.get());
  leader_->set_on_deposed(
      [this](const absl::Status& why) { Restart(std::string(why.message())); });
  ctx_.standby.store(true);
  auto view = leader_->Campaign();
  if (!view.ok()) return view.status();
  cluster_.epoch.store(view->epoch);
  if (view->mine) return Promote(*view);
  ctx_.leader.Set(view->address);
  spdlog::info(
      "standby of schema {}: the leader is {} ({}, epoch {}); following its "
      "log",
      config_.postgres_schema, view->address, view->holder, view->epoch);
  standby_thread_ = std::thread([this] { StandbyLoop(); });
  return absl::OkStatus();
}

void Daemon::StandbyLoop() {
  const auto every = std::min<std::chrono::microseconds>(
      100ms, std::chrono::microseconds(config_.leader_lease / 8));
  core::Scheduler& scheduler = core_->scheduler();
  auto apply = [&scheduler](const wal::v1::Transition& t) {
    scheduler.Apply(t);
  };
  std::unique_lock lock(standby_mu_);
  while (!standby_cv_.wait_for(lock, every, [&] { return standby_stop_; })) {
    lock.unlock();
    // What the leader committed since the last turn; then whether it
    // still leads.
    auto tail = pg_log_->Tail(apply);
    if (!tail.ok() && absl::IsFailedPrecondition(tail.status())) {
      Restart(std::string(tail.status().message()));
      return;
    }
    auto view = leader_->Campaign();
    if (view.ok() && view->mine) {
      if (absl::Status s = Promote(*view); !s.ok()) {
        Restart(absl::StrCat("cannot take over: ", s.message()));
      }
      return;
    }
    if (view.ok()) {
      cluster_.epoch.store(view->epoch);
      if (view->address != ctx_.leader.address()) {
        spdlog::info("standby: the leader is {} ({}, epoch {})", view->address,
                     view->holder, view->epoch);
        ctx_.leader.Set(view->address);
      }
    }
    lock.lock();
  }
}

absl::Status Daemon::Promote(const store::LeaderView& view) {
  // No other node can commit under the new epoch: once read to its end
  // here, the log is whole.
  core::Scheduler& scheduler = core_->scheduler();
  auto tail = pg_log_->Tail(
      [&scheduler](const wal::v1::Transition& t) { scheduler.Apply(t); });
  if (!tail.ok()) return tail.status();
  pg_log_->Lead(view.epoch);
  // Jobs running on the old leader's own handlers went with it: a lost
  // attempt each, as after a crash. Remote workers keep their leases: they
  // reconnect here and deliver their results.
  if (absl::Status s = FinishRecovery(/*keep_remote=*/true); !s.ok()) {
    return s;
  }
  ctx_.leader.Set(view.address);
  ctx_.standby.store(false);
  cluster_.leader.store(true);
  cluster_.epoch.store(view.epoch);
  if (view.took_over) cluster_.failovers.fetch_add(1);
  GoLive();
  spdlog::info("leading schema {} with epoch {} ({} jobs held): serving",
               config_.postgres_schema, view.epoch, scheduler.jobs().size());
  return absl::OkStatus();
}

void Daemon::Restart(const std::string& why) {
  if (restarting_.exchange(true)) return;
  spdlog::warn("{}: starting again as a standby", why);
  if (pg_log_ != nullptr) pg_log_->Depose(absl::UnavailableError(why));
  cluster_.leader.store(false);
  if (grpc::Server* server = serving_.load(); server != nullptr) {
    server->GetHealthCheckService()->SetServingStatus(false);
  }
  if (on_restart_) on_restart_(why);
}

void Daemon::StopStandby() {
  {
    std::lock_guard lock(standby_mu_);
    standby_stop_ = true;
  }
  standby_cv_.notify_all();
  if (standby_thread_.joinable()) standby_thread_.join();
}

}  // namespace jobq::daemon
