#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "common/clock.h"
#include "jobq/v1/jobq.pb.h"
#include "jobq/wal/v1/transition.pb.h"

namespace jobq::core {

// A running job on a remote worker: who holds it and until when.
struct RemoteRun {
  std::string worker;
  int32_t attempt = 0;
  TimeUs until = 0;       // The lease ends then unless renewed.
  DurationUs length = 0;  // A renewal lasts this long from the last word,
  TimeUs deadline = 0;    // but never past this (0: no limit).
  v1::Progress progress;  // The last reported.
};

// What the API shows of a run: its worker, when the lease ends, and the
// progress reported (when any).
void RemoteRunToProto(const RemoteRun& run, v1::Job* out);

// What becomes of a lease that has come due.
struct DueLease {
  enum class Verdict {
    kRenew,         // The worker was heard from: extend to `renew_until`.
    kTimedOut,      // The run passed its deadline (the job's timeout).
    kWorkerGone,    // The worker's session has ended.
    kWorkerSilent,  // Not heard from for a whole lease.
  };
  uint64_t seq = 0;
  int32_t attempt = 0;
  std::string worker;
  Verdict verdict = Verdict::kRenew;
  TimeUs renew_until = 0;  // kRenew only.
  TimeUs heard = 0;        // When the worker was last heard from; 0: gone.

  bool renewed() const { return verdict == Verdict::kRenew; }
  // Why the run was lost, for its error and the worker's revoke. `timeout`
  // is the job's (for kTimedOut).
  std::string Reason(TimeUs now, DurationUs timeout) const;
};

// The leases of the runs held by remote workers: the run of each job, and
// the leases ordered by (until, seq) so that the first to end is at hand.
//
// Leases are job state: the Scheduler changes this table only while it
// applies a transition (Start, Renew, Finish, Cancel, Requeue, Snapshot,
// Forget), so that a replay rebuilds the same table. Check() only decides.
//
// Invariant: every run in runs() has exactly one entry (run.until, seq)
// in the order of leases, and nothing else is there.
// Thread: one owner (the scheduler's).
class LeaseTable {
 public:
  // `seq` runs as `attempt` on `worker` under `lease`; replaces any run
  // the table held for `seq`.
  void Start(uint64_t seq, const std::string& worker, int32_t attempt,
             const wal::v1::Lease& lease);
  // Moves the end of (seq, attempt)'s lease to `until`; false (nothing
  // changes) unless that attempt holds a lease.
  bool Renew(uint64_t seq, int32_t attempt, TimeUs until);
  // The run of `seq` has ended, if it held a lease.
  void End(uint64_t seq);
  // Keeps the latest progress of (seq, attempt); false unless that attempt
  // holds a lease.
  bool SetProgress(uint64_t seq, int32_t attempt, const v1::Progress& progress);

  // The first lease that ends at or before `now`, and what becomes of it:
  // renewed to last-heard + length (never past the deadline) when that is
  // after `now`; otherwise lost, and why. `last_heard(worker, seq)` is when
  // the worker was last heard from about `seq`'s run, 0 when its session
  // has gone (or does not hold the run). Changes
  // nothing: the caller records the renewal or the end of the run, which
  // moves the lease out of the way before the next call.
  std::optional<DueLease> Check(
      TimeUs now,
      const std::function<TimeUs(const std::string&, uint64_t)>& last_heard)
      const;

  const RemoteRun* Find(uint64_t seq) const;
  const absl::flat_hash_map<uint64_t, RemoteRun>& runs() const { return runs_; }
  // When the first lease ends; 0 when none is held.
  TimeUs next() const { return order_.empty() ? 0 : order_.begin()->first; }
  size_t size() const { return runs_.size(); }

 private:
  absl::flat_hash_map<uint64_t, RemoteRun> runs_;
  // (until, seq) of every run in runs_.
  absl::btree_set<std::pair<TimeUs, uint64_t>> order_;
};

}  // namespace jobq::core
