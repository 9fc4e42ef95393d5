#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "jobq/wal/v1/transition.pb.h"

namespace jobq::store {

// The job a transition is about, or 0 (queue settings, retention).
uint64_t TransitionSeq(const wal::v1::Transition& t);

// Which jobs a recovery that skipped damage has lost, as far as the records
// it did read can tell.
//
// A job's Enqueue (or its JobSnapshot, after compaction) introduces it;
// Start, Finish, Cancel, Requeue and Renew refer to it. A job referred to by
// a record read after a stretch of damage, and introduced by no record read
// before or after, certainly existed and its introduction is gone: it is
// lost. A record read after compaction may legitimately refer to a job whose
// snapshot comes later in the same segment, so the verdict waits for the end
// of recovery. Jobs that were only enqueued inside the damaged bytes leave
// no trace in the readable records and cannot be named; Forget is not
// counted (a forgotten job is gone either way).
//
// Introduced jobs are kept as ranges of consecutive ids (ids are assigned in
// order within a millisecond), so memory follows the number of milliseconds
// with submits, not the number of jobs.
// Thread: one owner (recovery).
class LossTracker {
 public:
  // Every transition read, in log order.
  void Saw(const wal::v1::Transition& t);
  // Records were skipped here: from now on, unknown references are losses.
  void Damage() { damaged_ = true; }
  bool damaged() const { return damaged_; }

  // Sorted ids of the lost jobs.
  std::vector<uint64_t> Lost() const;

 private:
  bool Introduced(uint64_t seq) const;
  void Introduce(uint64_t seq);

  bool damaged_ = false;
  absl::btree_map<uint64_t, uint64_t> introduced_;  // First id -> last id.
  absl::flat_hash_set<uint64_t> unknown_refs_;      // Only after damage.
};

}  // namespace jobq::store
