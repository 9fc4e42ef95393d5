#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "common/clock.h"
#include "common/histogram.h"
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

// What SetQueueLimits changes: a field that is set changes that limit, one
// that is absent leaves it as it is.
struct QueueLimits {
  std::optional<int32_t> max_concurrency;  // 0: unlimited.
  std::optional<int64_t> max_queued;       // 0: the server-wide limit.
  std::optional<double> rate;              // Starts per second; 0: none.
  std::optional<int32_t> burst;            // 0: max(1, rate / 10).
};

// A token bucket of job starts: `rate` tokens a second, at most Size()
// held; a start takes one. Derived from time and the queue's settings,
// never logged: after a restart the bucket starts full.
// Thread: one owner.
struct StartBucket {
  double rate = 0;  // 0: no limit.
  int32_t burst = 0;
  double tokens = 0;
  TimeUs refilled_at = 0;  // 0: not yet; the first Refill fills it.

  double Size() const { return burst > 0 ? burst : std::max(1.0, rate / 10); }
  bool limited() const { return rate > 0; }
  bool HasToken() const { return rate <= 0 || tokens >= 1; }
  void Refill(TimeUs now) {
    if (rate <= 0) return;
    if (refilled_at == 0 || now < refilled_at) {
      if (refilled_at == 0) tokens = Size();
      refilled_at = now;
      return;
    }
    tokens = std::min(Size(), tokens + (now - refilled_at) * rate / kSecond);
    refilled_at = now;
  }
  void Take() {
    if (rate > 0) tokens -= 1;
  }
  // The tokens held at `now`, counting the refill since the last Refill
  // (which may be long ago: nothing refills a bucket while no start is
  // tried, e.g. while every local run slot is taken).
  double TokensAt(TimeUs now) const {
    if (refilled_at == 0) return Size();
    if (now <= refilled_at) return tokens;
    return std::min(Size(), tokens + (now - refilled_at) * rate / kSecond);
  }
  // When the next token is there, as seen at `now`: `now` when one is
  // there already, else a time after `now`. Never a time in the past: a
  // bucket that was not refilled for a while is not "late".
  TimeUs NextToken(TimeUs now) const {
    double held = TokensAt(now);
    if (held >= 1) return now;
    TimeUs from = std::max(now, refilled_at);
    return from + std::max<TimeUs>(1, static_cast<TimeUs>(
                                          (1 - held) * kSecond / rate + 0.999));
  }
  // New settings: the bucket starts full.
  void Set(double new_rate, int32_t new_burst) {
    if (new_rate == rate && new_burst == burst) return;
    rate = new_rate;
    burst = new_burst;
    tokens = Size();
    refilled_at = 0;
  }
};

// The number of v1::JobState values, the size of arrays indexed by state.
inline constexpr size_t kJobStates = v1::JobState_ARRAYSIZE;

// One named queue: its settings, its READY jobs in run order, the ids of
// its jobs by state, and its counters. Owned by the Scheduler.
struct Queue {
  std::string name;
  bool paused = false;
  int32_t max_concurrency = 0;  // 0: unlimited.
  int64_t max_queued = 0;       // 0: the server-wide limit.
  StartBucket starts;           // The rate of starts, if limited.
  // Enqueues prepared (counted against max_queued) but not yet stored.
  int64_t pending = 0;

  // READY jobs of kinds jobqd runs itself, and of each kind that remote
  // workers run.
  absl::btree_set<ReadyKey> ready;
  absl::flat_hash_map<std::string, absl::btree_set<ReadyKey>> remote_ready;
  // Jobs held now, indexed by v1::JobState. Changed only through Hold()
  // and Release(), which keep it equal to ids[state].size().
  std::array<uint64_t, kJobStates> by_state{};
  // The ids of the jobs held now by v1::JobState, in id order: the
  // (queue, state) index that listing walks. The queue's own index is
  // their union (a merge of at most 8 sets), which costs no memory of its
  // own. About 9 bytes a job.
  std::array<absl::btree_set<uint64_t>, kJobStates> ids;
  uint64_t submitted_total = 0;
  uint64_t completed_total = 0;  // Reached a terminal state.
  uint64_t started_total = 0;    // Runs started.
  uint64_t succeeded_total = 0;
  uint64_t failed_total = 0;  // Failed runs, retried or not.
  uint64_t dead_total = 0;
  uint64_t cancelled_total = 0;
  uint64_t refused_total = 0;       // Submits refused: the queue was full.
  uint64_t dead_dropped_total = 0;  // DEAD jobs forgotten at --max-dead.
  RateWindow submit_rate;
  RateWindow complete_rate;
  Histogram queue_wait;
  Histogram run_time;
  Histogram total_time;  // Created to terminal.

  // `seq` is held in `state`; Release() when it leaves that state.
  void Hold(uint64_t seq, v1::JobState state) {
    ++by_state[state];
    ids[state].insert(seq);
  }
  void Release(uint64_t seq, v1::JobState state) {
    --by_state[state];
    ids[state].erase(seq);
  }

  uint64_t running() const { return by_state[v1::JOB_STATE_RUNNING]; }
  // Jobs not yet finished, counting those being stored.
  int64_t unfinished() const {
    return static_cast<int64_t>(by_state[v1::JOB_STATE_WAITING] +
                                by_state[v1::JOB_STATE_SCHEDULED] +
                                by_state[v1::JOB_STATE_READY] + running()) +
           pending;
  }
  // Not paused, below its concurrency limit, and with a start token
  // (refill the bucket first).
  bool Open() const {
    return !paused &&
           (max_concurrency <= 0 ||
            running() < static_cast<uint64_t>(max_concurrency)) &&
           starts.HasToken();
  }
  // READY jobs of any kind wait.
  bool HasReady() const {
    if (!ready.empty()) return true;
    for (const auto& [kind, set] : remote_ready) {
      if (!set.empty()) return true;
    }
    return false;
  }
  // A job jobqd runs itself may start.
  bool CanStart() const { return !ready.empty() && Open(); }
};

}  // namespace jobq::core
