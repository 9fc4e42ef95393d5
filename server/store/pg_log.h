#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "jobq/wal/v1/transition.pb.h"
#include "store/batched_log.h"
#include "store/log.h"
#include "store/pg_conn.h"

namespace jobq::store {

struct PgLogOptions {
  // A libpq connection string or URI (--postgres).
  std::string conninfo;
  // The schema that holds this cluster's tables (--postgres-schema): a
  // lowercase SQL identifier, see ValidateSchemaName.
  std::string schema = "jobq";
  // false: the writer's session runs with synchronous_commit off (--sync=none):
  // acknowledged after the commit reached the server, not its disk.
  bool sync = true;
  // Who this process is, written into the leader row (host and pid).
  std::string holder;
  // While writes fail (the server unreachable, its disk full), the writer
  // tries again after this long, doubling up to `retry_max`.
  std::chrono::milliseconds retry_min{10};
  std::chrono::milliseconds retry_max{1000};
  // Called on the writer thread when a transaction finds that another node
  // leads (the log is deposed from then on).
  std::function<void(absl::Status)> on_deposed;
  // Fault injection for tests: asked after each COMMIT that succeeded;
  // true drops its answer, as a connection lost just before it arrived.
  std::function<bool()> lose_commit_answer;
};

// The log of the core's transitions in PostgreSQL (docs/postgresql.md):
// tables `leader` and `log` in one schema, and a writer thread with one
// connection.
//
// Group commit: the writer takes every batch committed since its last
// transaction and stores them in one database transaction (one COPY of
// their records), then reports them durable, once COMMIT has succeeded.
//
// Fencing: the log writes under the epoch of the leadership its node
// holds (PgLeader, Lead). Every transaction of the writer first reads the
// epoch with FOR SHARE, which holds off a takeover until it ends, and
// stores nothing if the epoch is no longer its own: a log whose schema
// another jobqd has taken over is deposed, which is sticky (every later
// batch fails, UNAVAILABLE, until restarted).
//
// Standbys: before Start, Recover and then Tail apply what the leader
// commits, so that a standby that takes over has the leader's state.
//
// Failures: as the file log's full disk. A transaction that fails (the
// server unreachable or shutting down, an error) is rolled back and the log
// stalls: it reports it once (on_health), gives back the withdrawable
// records of every batch not yet stored (on_withdrawn), reconnects and
// retries the rest in order with backoff until a transaction commits; then
// it reports health and the batches. A COMMIT whose answer was lost with
// the connection is settled after reconnecting by the highest sequence
// number stored, so a batch is never stored twice nor reported lost when
// it was stored.
//
// Compaction: a batch marked by BeginSnapshot starts a new generation (a
// column of every record); once the batch committed after EndSnapshot is
// durable, the rows of older generations are deleted.
//
// Thread: Open, Recover, Start, Stop by the owner; Append, Commit and the
// snapshot calls by the core thread only; log_bytes and Stats from any.
class PgLog final : public BatchedLog {
 public:
  // Connects and creates the schema and its tables if missing (the
  // leadership is PgLeader's). INVALID_ARGUMENT for a bad schema name,
  // UNAVAILABLE when the server cannot be reached.
  static absl::StatusOr<std::unique_ptr<PgLog>> Open(PgLogOptions options);
  // OK for a lowercase identifier: [a-z_][a-z0-9_]*, at most 63 bytes.
  static absl::Status ValidateSchemaName(const std::string& name);
  ~PgLog() override;

  // Before Start: replays every stored record in sequence order (the
  // latest snapshot's generation, and an older one whose deletion a crash
  // cut short).
  absl::StatusOr<RecoveryStats> Recover(
      const std::function<void(const wal::v1::Transition&)>& apply) override;
  // Before Start, on a standby: applies the records stored since Recover
  // or the last Tail (the leader's commits), and returns how many.
  // FAILED_PRECONDITION when a compaction deleted records not yet applied:
  // the state must be rebuilt (Recover into a fresh scheduler).
  absl::StatusOr<uint64_t> Tail(
      const std::function<void(const wal::v1::Transition&)>& apply);
  // Records stored that the last Tail had not applied yet when it began.
  int64_t lag() const { return lag_.load(); }
  // Whether the writer's (or the tailing standby's) connection worked at
  // its last use.
  bool connected() const { return connected_.load(); }
  // Writes from Start on under `epoch`, the leadership PgLeader holds.
  void Lead(int64_t epoch) { epoch_ = epoch; }
  // The writer goes: it stores nothing from now on (another node leads).
  void Depose(absl::Status why) { Stick(std::move(why)); }

  // Writes under the epoch given to Lead: every transaction stores nothing
  // (and the log fails for good, UNAVAILABLE) once another node leads.
  [[nodiscard]] absl::Status Start(CommitCallback on_commit,
                                   LogEvents events = {}) override;

  void Append(const wal::v1::Transition& t, bool withdrawable = false) override;

  // The bytes of the records stored (the live generation, and an older one
  // until its deletion).
  uint64_t log_bytes() const override { return log_bytes_.load(); }
  LogStats Stats() const override;

  // The leadership epoch this log writes under (Lead).
  int64_t epoch() const { return epoch_; }

  // Consecutive records of a transaction share a row of the table `log` up
  // to this many bytes (a larger record has a row of its own): PostgreSQL's
  // cost is mostly per row and per index entry, not per byte. Below the
  // table's toast_tuple_target, so that a row stays in its page.
  static constexpr size_t kRowBytes = 8000;

 private:
  struct Generation {
    int64_t first_seq = 0;  // Where it starts (records may follow later).
    uint64_t bytes = 0;     // Of its records stored.
  };
  struct Written {
    size_t batches = 0;  // From the front of the writer's deque.
    uint64_t last_batch = 0;
    int64_t last_seq = 0;
    int64_t generation = 0;  // The last batch's.
    std::map<int64_t, Generation> generations;
    uint64_t records = 0;
    bool drop_old = false;
  };

  explicit PgLog(PgLogOptions options);
  std::string Table(const char* name) const;
  // Opens the writer's connection (dropping a broken one).
  absl::Status Reconnect();
  absl::Status CreateSchema();
  // The seq of the last record stored (0: none), by the primary key.
  std::string LastSeqQuery() const;
  // Applies the records after seq `after`; `contiguous`: the first must be
  // the one after the last applied.
  absl::Status ReadAfter(
      int64_t after, bool contiguous,
      const std::function<void(const wal::v1::Transition&)>& apply,
      RecoveryStats* stats);
  // Reads the next sequence number and the current generation.
  absl::Status LoadPosition();
  absl::Status WriteBatches(std::deque<Batch>& batches) override;
  // One transaction storing `w.batches` batches from the front.
  absl::Status Transact(const std::deque<Batch>& batches, Written& w);
  // Names the writer's session once per connection (LeaderSessionName).
  absl::Status NameSession();
  // The epoch check that opens every transaction: reads the leader row's
  // epoch FOR SHARE, which holds off a takeover until the transaction ends.
  std::string FenceQuery() const;
  // OK if the fence's result is this log's epoch; otherwise the log is
  // deposed (sticky, on_deposed called) and that status comes back.
  absl::Status CheckEpoch(const PGresult& r);
  // BEGIN and the fence, for the transactions other than Transact's.
  absl::Status BeginFenced();
  // After reconnecting: whether the transaction whose COMMIT went
  // unanswered was stored.
  absl::Status SettleInDoubt(std::deque<Batch>& batches);
  void Stored(std::deque<Batch>& batches, const Written& w);
  absl::Status DropOldGenerations();

  PgLogOptions options_;
  int64_t epoch_ = 0;

  // Writer thread (and Open, Recover, Start before it runs).
  std::unique_ptr<PgConn> conn_;  // Null while disconnected.
  // conn_ carries the leader's session name (LeaderSessionName).
  bool named_ = false;
  int64_t next_seq_ = 1;
  int64_t generation_ = 1;
  bool positioned_ = false;  // LoadPosition has run.
  int64_t applied_seq_ = 0;  // Before Start: the last record applied.
  std::atomic<int64_t> lag_{0};
  std::atomic<bool> connected_{false};
  int64_t drop_below_ = 0;  // Generations below it are to be deleted.
  bool in_doubt_ = false;   // A COMMIT went unanswered: `doubt_`.
  Written doubt_;

  std::map<int64_t, Generation> generations_;  // Guarded by mu_.
  std::atomic<uint64_t> log_bytes_{0};         // Sum of generations_.
};

}  // namespace jobq::store
