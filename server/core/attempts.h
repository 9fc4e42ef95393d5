#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/clock.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::core {

// One run of a job that ended.
struct AttemptRecord {
  TimeUs started_at = 0;
  TimeUs finished_at = 0;
  std::string worker;  // Empty: jobqd's own worker loops.
  std::string error;   // At most AttemptHistory::kMaxError bytes.
  int32_t exit_code = 0;
  int32_t number = 0;
  v1::AttemptOutcome outcome = v1::ATTEMPT_OUTCOME_UNSPECIFIED;
};

// The runs of each job that ended, oldest first: the last kKept of them,
// and how many older ones were dropped.
//
// Most jobs run once, on jobqd's own loops, and end with that run; such a
// job has no entry here at all: the Scheduler records a run only when the
// job's own fields (started_at, finished_at, error, exit_code, state) will
// not keep describing it (another run follows, it ran on a remote worker,
// or it was lost), and writes out the one described by the job's fields
// before they change (RetryJob). The running attempt is the job's too.
// So a job costs nothing here until it runs a second time.
//
// Changed only by the Scheduler's Apply functions, so that replaying the
// log rebuilds it; compaction carries it in JobSnapshot.attempts.
// Thread: one owner (the scheduler's).
class AttemptHistory {
 public:
  static constexpr size_t kKept = 20;
  static constexpr size_t kMaxError = 1024;

  // Appends the run that ended to `seq`'s history, dropping its oldest one
  // past kKept. The error is cut to kMaxError bytes (at a UTF-8 boundary).
  void Add(uint64_t seq, AttemptRecord run);
  // Most jobs have no history: the checks below cost no hashing then.
  bool Has(uint64_t seq) const { return !jobs_.empty() && jobs_.contains(seq); }
  void Forget(uint64_t seq) {
    if (!jobs_.empty()) jobs_.erase(seq);
  }
  // Replaces `seq`'s history with a snapshot's; an empty one forgets it.
  void Restore(uint64_t seq,
               const google::protobuf::RepeatedPtrField<v1::Attempt>& runs);
  // Appends `seq`'s history to `out`; the first one names how many older
  // ones were dropped.
  void ToProto(uint64_t seq,
               google::protobuf::RepeatedPtrField<v1::Attempt>* out) const;
  // Jobs with a history.
  size_t size() const { return jobs_.size(); }

  static void RecordToProto(const AttemptRecord& run, v1::Attempt* out);

 private:
  struct Runs {
    std::vector<AttemptRecord> kept;  // At most kKept, oldest first.
    int32_t dropped = 0;
  };
  absl::flat_hash_map<uint64_t, Runs> jobs_;
};

}  // namespace jobq::core
