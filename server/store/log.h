#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/histogram.h"
#include "jobq/wal/v1/transition.pb.h"

namespace jobq::store {

// One stretch of damage that skip-corrupt recovery passed over.
struct SkippedRegion {
  std::string file;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  uint64_t records = 0;  // At least; see LogReader::Skipped.
  // The jobs of the nearest readable records around it (0: none), which
  // date the damage: job ids begin with the submit time.
  uint64_t seq_before = 0;
  uint64_t seq_after = 0;
};

struct RecoveryStats {
  uint64_t segments = 0;
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t torn_bytes = 0;  // Cut from the newest segment's torn tail.
  // Skip-corrupt only: what was passed over.
  uint64_t skipped_bytes = 0;
  uint64_t skipped_records = 0;  // At least this many.
  std::vector<SkippedRegion> skipped;
  // Segment numbers absent from the sequence (compaction never leaves a gap).
  std::vector<uint64_t> missing_segments;
  // Jobs that records after the damage refer to but whose Enqueue (or
  // snapshot) was never read (LossTracker); sorted.
  std::vector<uint64_t> lost_jobs;
};

struct LogStats {
  std::string kind = "wal";  // GetStats' storage: "wal" or "postgres".
  std::string dir;
  bool sync = true;
  uint64_t segments = 0;
  uint64_t log_bytes = 0;
  uint64_t records_written = 0;
  uint64_t batches_written = 0;  // Writes: one per group of batches.
  uint64_t fsyncs = 0;
  Histogram group_records;  // Records per write.
  Histogram fsync_us;       // fdatasync latency.
  std::string failure;      // The sticky failure, if any.
  // Set while writes fail and are being retried (a full disk): the error.
  std::string stalled;
  TimeUs stalled_since_us = 0;     // Wall clock, 0 when not stalled.
  uint64_t write_failures = 0;     // Writes that failed and were undone.
  uint64_t withdrawn_records = 0;  // Enqueues given back, never stored.
  RecoveryStats recovery;          // What the last Recover found.
};

// Batches up to and including `batch` are durable (OK), or will never be
// stored (the error: a sticky failure, or the log stopped while it could
// not write). Called on the writer thread, in batch order.
using CommitCallback = std::function<void(uint64_t batch, absl::Status)>;

// What else the writer reports, on its thread, in order with the commits.
struct LogEvents {
  // The withdrawable records (enqueues) of batches up to `batch` were
  // dropped, never to be stored, because writing failed (`why`). The rest
  // of those batches is still to be stored.
  std::function<void(uint64_t batch, absl::Status why)> on_withdrawn;
  // Writing started failing (the error) or works again (OK).
  std::function<void(absl::Status)> on_health;
};

using WalStats = LogStats;
using WalEvents = LogEvents;

// Where the core's transitions are stored: the one interface the core
// thread writes through, whatever holds the records (the file write-ahead
// log, Wal, is the first). A log is a sequence of batches of transitions.
//
//   Append, Commit: the core appends the transitions of one loop turn and
//     commits them as a batch; the log stores batches whole and in order and
//     reports each through the CommitCallback once it is durable (or never
//     will be). Withdrawable transitions (enqueues the core has not applied)
//     may be given back while the log cannot write (LogEvents).
//   Recover: before Start, replays a snapshot and the records after it, in
//     the order they were committed.
//   BeginSnapshot, EndSnapshot: compaction. Batches committed after
//     BeginSnapshot start a new snapshot; the core appends a record of every
//     live job (and keeps appending transitions meanwhile); once the batch
//     committed after EndSnapshot is durable, everything before the snapshot
//     is deleted. Replay of a transition of a job not yet known is ignored
//     (the snapshot holds the job's later state).
//
// Thread: Recover, Start, Stop by the owner; Append, Commit and the
// snapshot calls by the core thread only; log_bytes and Stats from any.
class Log {
 public:
  virtual ~Log() = default;

  virtual absl::StatusOr<RecoveryStats> Recover(
      const std::function<void(const wal::v1::Transition&)>& apply) = 0;
  [[nodiscard]] virtual absl::Status Start(CommitCallback on_commit,
                                           LogEvents events) = 0;
  // Stores (or reports as failed) every committed batch, then stops.
  virtual void Stop() = 0;

  virtual void Append(const wal::v1::Transition& t,
                      bool withdrawable = false) = 0;
  // The batch id of what was appended since the last commit, or 0 when
  // nothing was.
  virtual uint64_t Commit() = 0;
  virtual uint64_t last_commit() const = 0;

  virtual void BeginSnapshot() = 0;
  virtual void EndSnapshot() = 0;

  // What the log holds, for deciding when to compact.
  virtual uint64_t log_bytes() const = 0;
  virtual LogStats Stats() const = 0;
};

}  // namespace jobq::store
