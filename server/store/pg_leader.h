#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/pg_conn.h"

namespace jobq::store {

struct PgLeaderOptions {
  std::string conninfo;
  std::string schema = "jobq";
  // Who this process is ("host pid N") and where clients reach it
  // (--advertise-address), written into the leader row.
  std::string holder;
  std::string address;
  // The leader renews its lease every lease/4; a leader that has not
  // renewed for `lease` may be replaced (--leader-lease).
  std::chrono::milliseconds lease{2000};
};

// The leader row as one node sees it.
struct LeaderView {
  int64_t epoch = 0;  // 0: no node has led the schema yet.
  std::string holder;
  std::string address;
  bool mine = false;  // This node leads (under `epoch`).
  // This node just took the leadership over from an earlier leader.
  bool took_over = false;
};

// Leadership of one schema's cluster (docs/postgresql.md, "Standbys and
// failover"): the row `leader` holds the epoch, the leader's address, its
// lease and the process id of its database session.
//
// A node that is not the leader calls Campaign now and then. It takes the
// leadership (the epoch goes up by one) when there is no leader: no row
// yet, a lease that ran out (the leader hung or lost the database), or a
// leader whose database session has ended (its process died: replaced at
// the next Campaign, without waiting for the lease). From then on a keeper
// thread renews the lease every lease/4 on this object's own connection.
// A renewal that finds another epoch reports the loss (on_deposed) and
// stops. The log's writes check the epoch themselves (PgLog), so a leader
// that has lost the row can never append, whatever its clock says: the
// lease only decides when another node may take over. Times are the
// database's (now()), so the nodes' clocks do not matter.
//
// Thread: Campaign and Resign by one owner thread; the keeper on its own;
// the accessors from any.
class PgLeader {
 public:
  // Connects; the schema and its tables must exist (PgLog::Open).
  static absl::StatusOr<std::unique_ptr<PgLeader>> Connect(
      PgLeaderOptions options);
  ~PgLeader();

  // Called once, on the keeper thread, when another node has taken the
  // leadership from this one. Set before the first Campaign.
  void set_on_deposed(std::function<void(absl::Status)> f) {
    on_deposed_ = std::move(f);
  }

  // One step: reads the leader row and, when there is no leader, takes the
  // leadership. UNAVAILABLE when the database cannot be reached (the next
  // call connects again).
  absl::StatusOr<LeaderView> Campaign();
  // A clean stop: stops renewing and ends the lease now, so that a standby
  // takes over at its next Campaign.
  void Resign();

  int64_t epoch() const { return epoch_.load(); }
  bool leading() const { return leading_.load(); }
  bool connected() const { return connected_.load(); }

 private:
  explicit PgLeader(PgLeaderOptions options) : options_(std::move(options)) {}
  std::string Table() const;
  absl::Status EnsureConnected();
  absl::StatusOr<LeaderView> Read();
  absl::StatusOr<LeaderView> TakeOver(int64_t seen_epoch);
  // Marks this connection as the leader's of `epoch` (LeaderSessionName).
  absl::Status NameSession(int64_t epoch);
  // Ends the database sessions of the leader of `epoch` (best effort).
  void EndSessionsOf(int64_t epoch);
  void Keep();
  // UNAVAILABLE when the connection failed; NOT_FOUND when another node
  // holds the epoch.
  absl::Status Renew();

  PgLeaderOptions options_;
  std::function<void(absl::Status)> on_deposed_;
  std::unique_ptr<PgConn> conn_;  // Owner thread, then the keeper's.
  std::atomic<int64_t> epoch_{0};
  std::atomic<bool> leading_{false};
  std::atomic<bool> connected_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;              // Guarded by mu_.
  bool warned_terminate_ = false;  // Owner thread.
  std::thread keeper_;
};

}  // namespace jobq::store
