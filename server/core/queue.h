#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "common/clock.h"
#include "common/histogram.h"
#include "core/id_index.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::core {

// Events per second over a sliding window of whole seconds.
// Thread: one owner.
class RateWindow {
 public:
  static constexpr int kSeconds = 10;
  void Add(TimeUs now, uint64_t n);
  double PerSecond(TimeUs now) const;

 private:
  std::array<uint64_t, kSeconds> counts_{};
  std::array<int64_t, kSeconds> second_{};
};

// Orders READY jobs: higher priority first, then submission order.
struct ReadyKey {
  int32_t priority;
  uint64_t seq;
  bool operator<(const ReadyKey& o) const {
    return priority != o.priority ? priority > o.priority : seq < o.seq;
  }
};

// One named queue: its settings, its READY jobs in run order, the ids of
// its jobs by state, and its counters. Owned by the Scheduler.
struct Queue {
  std::string name;
  bool paused = false;
  int32_t max_concurrency = 0;  // 0: unlimited.
  int64_t max_queued = 0;       // 0: the server-wide limit.
  // Enqueues prepared (counted against max_queued) but not yet stored.
  int64_t pending = 0;

  // READY jobs of kinds jobqd runs itself, and of each kind that remote
  // workers run.
  absl::btree_set<ReadyKey> ready;
  absl::flat_hash_map<std::string, absl::btree_set<ReadyKey>> remote_ready;
  // Jobs held now, indexed by v1::JobState. Changed only through Hold()
  // and Release(), which keep it equal to the number of ids[state].
  std::array<uint64_t, 8> by_state{};
  // The ids of the jobs held now by v1::JobState, in id order: the
  // (queue, state) index that listing walks. The queue's own index is
  // their union (a merge of at most 8 sets), which costs no memory of its
  // own. Between a bit and two bytes a job (see IdIndex).
  std::array<IdIndex, 8> ids;
  uint64_t submitted_total = 0;
  uint64_t completed_total = 0;  // Reached a terminal state.
  uint64_t started_total = 0;    // Runs started.
  uint64_t succeeded_total = 0;
  uint64_t failed_total = 0;  // Failed runs, retried or not.
  uint64_t dead_total = 0;
  uint64_t cancelled_total = 0;
  uint64_t refused_total = 0;  // Submits refused: the queue was full.
  RateWindow submit_rate;
  RateWindow complete_rate;
  Histogram queue_wait;
  Histogram run_time;
  Histogram total_time;  // Created to terminal.

  // `seq` is held in `state`; Release() when it leaves that state.
  void Hold(uint64_t seq, v1::JobState state) {
    ++by_state[state];
    ids[state].Add(seq);
  }
  void Release(uint64_t seq, v1::JobState state) {
    --by_state[state];
    ids[state].Remove(seq);
  }

  uint64_t running() const { return by_state[v1::JOB_STATE_RUNNING]; }
  // Jobs not yet finished, counting those being stored.
  int64_t unfinished() const {
    return static_cast<int64_t>(by_state[v1::JOB_STATE_SCHEDULED] +
                                by_state[v1::JOB_STATE_READY] + running()) +
           pending;
  }
  // Not paused and below its concurrency limit.
  bool Open() const {
    return !paused && (max_concurrency <= 0 ||
                       running() < static_cast<uint64_t>(max_concurrency));
  }
  // A job jobqd runs itself may start.
  bool CanStart() const { return !ready.empty() && Open(); }
};

}  // namespace jobq::core
