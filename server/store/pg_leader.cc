#include "store/pg_leader.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace jobq::store {
namespace {

// Whether the row's leader is gone: its lease ran out, or its database
// session has ended (pg_stat_activity lists every session's pid).
constexpr char kVacant[] =
    "(l.lease_until < now() OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a "
    "WHERE a.pid = l.backend_pid))";

int64_t Int(const PGresult* r, int row, int column) {
  int64_t v = 0;
  (void)absl::SimpleAtoi(PQgetvalue(r, row, column), &v);
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgLeader>> PgLeader::Connect(
    PgLeaderOptions options) {
  std::unique_ptr<PgLeader> leader(new PgLeader(std::move(options)));
  if (absl::Status s = leader->EnsureConnected(); !s.ok()) return s;
  return leader;
}

PgLeader::~PgLeader() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (keeper_.joinable()) keeper_.join();
}

std::string PgLeader::Table() const {
  return absl::StrCat(QuoteIdent(options_.schema), ".leader");
}

absl::Status PgLeader::EnsureConnected() {
  if (conn_ != nullptr && !conn_->broken()) return absl::OkStatus();
  conn_.reset();
  connected_.store(false);
  auto conn = PgConn::Connect(options_.conninfo);
  if (!conn.ok()) return conn.status();
  conn_ = std::move(*conn);
  connected_.store(true);
  if (leading_.load()) return NameSession(epoch_.load());
  return absl::OkStatus();
}

absl::Status PgLeader::NameSession(int64_t epoch) {
  auto r = conn_->ExecParams("SELECT set_config('application_name', $1, false)",
                             {LeaderSessionName(options_.schema, epoch)});
  return r.ok() ? absl::OkStatus() : r.status();
}

void PgLeader::EndSessionsOf(int64_t epoch) {
  auto r = conn_->ExecParams(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
      "application_name = $1 AND datname = current_database() AND pid <> "
      "pg_backend_pid()",
      {LeaderSessionName(options_.schema, epoch)});
  if (!r.ok()) {
    // Without the right (the nodes should connect as one role, or as
    // members of pg_signal_backend), the takeover waits for the old
    // leader's transaction instead.
    if (!warned_terminate_) {
      spdlog::warn(
          "postgres: cannot end the sessions of the leader of epoch {}: {}",
          epoch, std::string(r.status().message()));
      warned_terminate_ = true;
    }
    return;
  }
  if (Int(r->get(), 0, 0) > 0) {
    spdlog::info(
        "postgres: ended {} database session(s) of the leader of "
        "epoch {}",
        Int(r->get(), 0, 0), epoch);
  }
}

absl::StatusOr<LeaderView> PgLeader::Read() {
  auto r =
      conn_->Exec(absl::StrCat("SELECT l.epoch, l.holder, l.address, ", kVacant,
                               " FROM ", Table(), " l WHERE l.id = 1"));
  if (!r.ok()) return r.status();
  if (PQntuples(r->get()) != 1) {
    return absl::InternalError(absl::StrCat(
        "postgres: the leader row of schema ", options_.schema, " is missing"));
  }
  LeaderView view;
  view.epoch = Int(r->get(), 0, 0);
  view.holder = PQgetvalue(r->get(), 0, 1);
  view.address = PQgetvalue(r->get(), 0, 2);
  if (*PQgetvalue(r->get(), 0, 3) != 't') return view;  // Led.
  return TakeOver(view.epoch);
}

absl::StatusOr<LeaderView> PgLeader::TakeOver(int64_t seen_epoch) {
  // A transaction of the old leader's writer in progress holds the row
  // FOR SHARE, and one whose process hangs (SIGSTOP, a VM paused) would
  // hold it for good: its sessions are ended first, which rolls it back.
  // The row lock then waits at most a lease; the old writer's next
  // transaction sees the new epoch and stores nothing. Checked again under
  // the lock: another standby may have been quicker.
  if (seen_epoch > 0) EndSessionsOf(seen_epoch);
  auto r = conn_->Exec(absl::StrCat("BEGIN; SET LOCAL lock_timeout = '",
                                    options_.lease.count(),
                                    "ms'; SELECT l.epoch, ", kVacant, " FROM ",
                                    Table(), " l WHERE l.id = 1 FOR UPDATE"));
  if (r.ok() && PQntuples(r->get()) == 1 &&
      (Int(r->get(), 0, 0) != seen_epoch ||
       *PQgetvalue(r->get(), 0, 1) != 't')) {
    (void)conn_->Exec("ROLLBACK");
    return Read();
  }
  if (r.ok() && PQntuples(r->get()) != 1) {
    (void)conn_->Exec("ROLLBACK");
    return absl::InternalError(absl::StrCat(
        "postgres: the leader row of schema ", options_.schema, " is missing"));
  }
  int64_t epoch = 0;
  if (r.ok()) {
    r = conn_->ExecParams(
        absl::StrCat("UPDATE ", Table(),
                     " SET epoch = epoch + 1, holder = $1, address = $2, "
                     "since = now(), lease_until = now() + $3::interval, "
                     "backend_pid = pg_backend_pid() WHERE id = 1 "
                     "RETURNING epoch"),
        {options_.holder, options_.address,
         absl::StrCat(options_.lease.count(), " milliseconds")});
  }
  if (r.ok()) epoch = Int(r->get(), 0, 0);
  if (r.ok()) r = conn_->Exec("COMMIT");
  if (!r.ok()) {
    if (!conn_->broken()) (void)conn_->Exec("ROLLBACK");
    return r.status();
  }
  if (absl::Status s = NameSession(epoch); !s.ok()) {
    // Led all the same; a standby could not end this session, that is all.
    spdlog::warn("postgres: cannot name the leader's session: {}",
                 std::string(s.message()));
  }
  LeaderView view{.epoch = epoch,
                  .holder = options_.holder,
                  .address = options_.address,
                  .mine = true,
                  .took_over = seen_epoch > 0};
  epoch_.store(view.epoch);
  leading_.store(true);
  spdlog::info("postgres: leader of schema {} with epoch {}", options_.schema,
               view.epoch);
  keeper_ = std::thread([this] { Keep(); });
  return view;
}

absl::StatusOr<LeaderView> PgLeader::Campaign() {
  if (leading_.load()) {
    return LeaderView{.epoch = epoch_.load(),
                      .holder = options_.holder,
                      .address = options_.address,
                      .mine = true};
  }
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  auto view = Read();
  if (!view.ok() && conn_->broken()) connected_.store(false);
  return view;
}

absl::Status PgLeader::Renew() {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  auto r = conn_->ExecParams(
      absl::StrCat("UPDATE ", Table(),
                   " SET lease_until = now() + $2::interval, backend_pid = "
                   "pg_backend_pid() WHERE id = 1 AND epoch = $1"),
      {std::to_string(epoch_.load()),
       absl::StrCat(options_.lease.count(), " milliseconds")});
  if (!r.ok()) {
    if (conn_->broken()) connected_.store(false);
    return r.status();
  }
  if (std::atoi(PQcmdTuples(r->get())) == 1) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat(
      "postgres: deposed: another jobqd took the leadership of schema ",
      options_.schema, " from epoch ", epoch_.load()));
}

void PgLeader::Keep() {
  const auto every = options_.lease / 4;
  // After a failed renewal (the database restarting), again soon: the
  // first to reach it once it is back keeps or takes the leadership.
  const auto again =
      std::min<std::chrono::milliseconds>(every, std::chrono::milliseconds(20));
  auto wait = every;
  bool failing = false;
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, wait, [&] { return stop_; })) {
    lock.unlock();
    absl::Status s = Renew();
    wait = s.ok() ? every : again;
    lock.lock();
    if (absl::IsNotFound(s)) {
      leading_.store(false);
      lock.unlock();
      spdlog::error("{}", std::string(s.message()));
      if (on_deposed_) on_deposed_(absl::UnavailableError(s.message()));
      return;
    }
    if (!s.ok() && !failing) {
      spdlog::warn("postgres: cannot renew the leader's lease (retrying): {}",
                   std::string(s.message()));
    } else if (s.ok() && failing) {
      spdlog::info("postgres: the leader's lease is renewed again");
    }
    failing = !s.ok();
  }
}

void PgLeader::Resign() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (keeper_.joinable()) keeper_.join();
  if (!leading_.exchange(false) || !EnsureConnected().ok()) return;
  auto r = conn_->ExecParams(
      absl::StrCat("UPDATE ", Table(),
                   " SET lease_until = now() - interval '1 second', "
                   "backend_pid = 0 WHERE id = 1 AND epoch = $1"),
      {std::to_string(epoch_.load())});
  if (r.ok()) {
    spdlog::info("postgres: resigned the leadership of schema {} (epoch {})",
                 options_.schema, epoch_.load());
  }
}

}  // namespace jobq::store
