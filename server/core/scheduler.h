#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "core/attempts.h"
#include "core/job.h"
#include "core/job_list.h"
#include "core/leases.h"
#include "core/queue.h"
#include "core/schedules.h"
#include "jobq/v1/jobq.pb.h"
#include "jobq/wal/v1/transition.pb.h"

namespace jobq::core {

// Told of every state change, after it is applied. Thread: core.
class JobObserver {
 public:
  virtual ~JobObserver() = default;
  // `job` is in its new state; `state` is the event's state, which differs
  // from job.state only for the FAILED event that precedes SCHEDULED/DEAD.
  virtual void OnJobEvent(const Job& job, v1::JobState state) = 0;
  // A remote worker reported progress on the running `job`.
  virtual void OnJobProgress(const Job& job, const v1::Progress& progress) {}
};

// Receives every transition before it is applied: the hook of the
// write-ahead log. Thread: core.
class TransitionLog {
 public:
  virtual ~TransitionLog() = default;
  virtual void Append(const wal::v1::Transition& t) = 0;
};

// A job handed to a handler.
struct Assignment {
  uint64_t seq = 0;
  int32_t attempt = 0;
  std::string kind;
  std::string payload;
  DurationUs timeout = 0;  // 0: none.
  // Its parents and their results (JobSpec.depends_on), in id order; null
  // for most jobs (which keeps an assignment small: turns hand over
  // thousands).
  std::shared_ptr<const std::vector<ParentLink>> parents;
};

// After a failed run: what becomes of the job.
//
// Every run that starts is an attempt, however it ends; Job::attempt is the
// number of runs started. A failure runs again (after its backoff) only
// while attempt < max_attempts. A lost run (its remote worker went away or
// fell silent, or jobqd stopped while it ran) is not the job's fault: it
// runs again at once while attempt < max(max_attempts, kLostRunAttempts),
// so that one lost worker does not end a job without retries, while a job
// that keeps killing its workers, or jobqd, still ends DEAD.
enum class Retry {
  kPolicy,  // Its retry policy decides (backoff, or DEAD when none is left).
  kNow,     // A lost run: READY again at once while lost-run attempts remain.
  kNever,   // DEAD now (a failure retrying will not cure).
};
inline constexpr int kLostRunAttempts = 3;
// The error of a run lost because jobqd stopped while it ran.
inline constexpr char kRestartedError[] =
    "interrupted: jobqd restarted while it ran";

// A run of `job` that ended as `retry` says is followed by another only
// while job.attempt is below this: max_attempts after a failure (kPolicy),
// max(max_attempts, kLostRunAttempts) after a lost run (kNow).
int AttemptLimit(const Job& job, Retry retry);

// How a handler's run of (seq, attempt) ended.
struct RunResult {
  uint64_t seq = 0;
  int32_t attempt = 0;
  bool success = false;
  std::string result;
  std::string error;
  int32_t exit_code = 0;
  Retry retry = Retry::kPolicy;
};

// A lease that ran out: the job went back to its queue (or to DEAD).
struct LostLease {
  uint64_t seq = 0;
  int32_t attempt = 0;
  std::string worker;
  std::string reason;
};

struct SubmitOutcome {
  uint64_t seq = 0;
  bool duplicate = false;
  // Refused: the queue held `limit` unfinished jobs, its max_queued.
  int64_t full_at = 0;
  // Refused for another reason (a parent that does not exist or did not
  // succeed): the error, its field relative to the spec ("depends_on[2]").
  absl::Status error;
  bool refused() const { return full_at > 0 || !error.ok(); }
};

struct CancelOutcome {
  const Job* job = nullptr;
  // Set when the job was running: its handler must be stopped.
  std::optional<int32_t> running_attempt;
};

struct SchedulerOptions {
  // Succeeded and cancelled jobs.
  DurationUs retention = 3600 * kSecond;
  size_t max_finished = 100'000;
  // DEAD jobs, kept until retried or deleted, or past these.
  DurationUs dead_retention = 7 * 24 * 3600 * kSecond;
  size_t max_dead = 1'000'000;
  // How long an idempotency key counts from its job's submission, whether
  // or not the job is still held.
  DurationUs idempotency_window = 24 * 3600 * kSecond;
  // Uniform in [0, 1): the jitter of retry backoff.
  std::function<double()> random;
  // Unfinished jobs a queue accepts at most, unless it has its own
  // max_queued; 0: no limit.
  int64_t max_queued = 0;
  // True for the kinds jobqd runs itself; READY jobs of other kinds wait
  // for a remote worker (TakeRemote). Null: every kind is local.
  std::function<bool(const std::string& kind)> is_local;
};

// All job state of the daemon: jobs by id, queues with their READY jobs in
// run order, SCHEDULED jobs by due time, finished jobs awaiting retention.
//
// Every change is made by building a wal::v1::Transition (everything random
// or clock-derived decided up front), handing it to the TransitionLog, and
// applying it with Apply(), the only mutator; replaying the same transitions
// into a fresh Scheduler yields the same state. Promotion of due SCHEDULED
// jobs to READY is derived from time and is not a transition.
//
// No threads, no I/O, no clock: callers pass `now`.
// The code: commands in scheduler.cc, the Apply half (transitions and the
// indexes they keep) in scheduler_apply.cc, listing in job_list.cc; the
// leases of remote runs are a LeaseTable (leases.h).
// Thread: one owner (the core loop).
class Scheduler {
 public:
  Scheduler(SchedulerOptions options, JobObserver* observer,
            TransitionLog* log = nullptr);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Accepts a validated spec (queue set). With an idempotency key that an
  // existing job carries, returns that job with duplicate = true. A queue
  // at its max_queued refuses it (SubmitOutcome::refused()).
  SubmitOutcome Submit(v1::JobSpec spec, TimeUs now);

  // Submit in two steps, for acknowledging only what is durable: decides
  // the job (id, times; or a duplicate) and fills `enqueue`, without
  // applying it. The caller logs it and later either Apply()s it or, if it
  // could not be stored, Abandon()s it. Its idempotency key counts from now.
  //
  // Its parents (spec.depends_on) must be held and not DEAD or CANCELLED,
  // or be among `batch`: jobs prepared just before it whose enqueues are
  // applied (or abandoned) before its own. Until then the parents held are
  // pinned: retention, DeleteJob and PurgeQueue leave them, so that the
  // job finds them when it is applied, as a replay of the log does.
  SubmitOutcome PrepareEnqueue(v1::JobSpec&& spec, TimeUs now,
                               wal::v1::Transition* enqueue,
                               absl::Span<const uint64_t> batch = {});
  void Abandon(const wal::v1::Transition& enqueue);
  // Applies a prepared enqueue once it is durable.
  void ApplyPrepared(const wal::v1::Transition& enqueue);

  // After recovery: the run of every RUNNING job was lost with the previous
  // process. It counts as an attempt: the job goes back to READY (a Requeue
  // record) while lost-run attempts remain, else it ends DEAD (a Finish).
  // Returns how many jobs were running. `keep_remote`: runs leased to
  // remote workers stay RUNNING under their leases (a takeover in a
  // cluster: the workers reconnect to the new leader and deliver their
  // results; a lease not renewed ends as usual).
  size_t RequeueRunning(TimeUs now, bool keep_remote = false);

  // Cancels a non-terminal job. NOT_FOUND for an unknown job;
  // FAILED_PRECONDITION when it has already ended.
  absl::StatusOr<CancelOutcome> Cancel(uint64_t seq, TimeUs now);

  // A handler's report. Ignored (returns false) unless (seq, attempt) is the
  // job's current running attempt: late or duplicate reports are refused.
  bool Finish(const RunResult& result, TimeUs now);

  // ---- The lifecycle of finished jobs (scheduler_lifecycle.cc). ----

  // A DEAD or CANCELLED job runs again, READY now, attempts counted afresh
  // (a Retry record). NOT_FOUND, or FAILED_PRECONDITION in another state.
  absl::StatusOr<const Job*> RetryJob(uint64_t seq, TimeUs now);
  // Forgets a finished job (a Forget record). NOT_FOUND, or
  // FAILED_PRECONDITION when it has not finished.
  absl::Status DeleteJob(uint64_t seq);
  // Retries up to `max` of `queue`'s DEAD jobs, oldest id first; returns
  // how many. A step of RetryDead: callers bound `max` per core turn.
  size_t RetryDeadStep(const std::string& queue, size_t max, TimeUs now);
  // Removes up to `max` of `queue`'s jobs whose state is in `states` (bit
  // 1 << v1::JobState): unfinished ones are cancelled first, then every
  // one is forgotten. Running ones are appended to `stop` (seq, attempt)
  // for their handlers to be stopped. Returns how many were removed.
  size_t PurgeStep(const std::string& queue, uint32_t states, size_t max,
                   TimeUs now, std::vector<std::pair<uint64_t, int32_t>>* stop);
  // Changes what `limits` sets, leaves the rest (one QueueSettings record).
  const Queue& SetQueueLimits(const std::string& name,
                              const QueueLimits& limits);
  // When a rate-limited queue with READY jobs gets its next start token,
  // as seen at `now`: always after `now`, or 0 when none waits for one. A
  // queue that holds a token at `now` (counting the refill since its last
  // start) waits for something else (a run slot, a worker), whose arrival
  // wakes the core; it is not counted, so that a caller never re-arms a
  // wake-up for a time already past.
  TimeUs RateWake(TimeUs now) const;
  // Idempotency keys remembered for jobs no longer held, for compaction:
  // calls `fn` with up to `max` of them after `after` (expiry, key) in
  // that order, and returns the last one visited.
  using KeyCursor = std::pair<TimeUs, std::string>;
  std::optional<KeyCursor> ForEachForgottenKey(
      const std::optional<KeyCursor>& after, size_t max,
      absl::FunctionRef<void(const wal::v1::IdempotencyKey&)> fn) const;
  size_t remembered_keys() const { return idempotency_.size(); }
  size_t dead() const { return dead_.size(); }
  uint64_t dead_dropped() const { return dead_dropped_; }
  // Times the DEAD jobs reached max_dead (and jobs began to be dropped).
  uint64_t dead_cap_crossings() const { return dead_cap_crossings_; }

  // Queue settings; the queue is created if new.
  const Queue& PauseQueue(const std::string& name, bool paused);
  const Queue& SetMaxConcurrency(const std::string& name, int32_t max);
  // 0: the server-wide limit (SchedulerOptions::max_queued) applies.
  const Queue& SetMaxQueued(const std::string& name, int64_t max);
  // A QueueSettings record of `q` as it is.
  static void Settings(const Queue& q, wal::v1::QueueSettings* out);
  // The limit that applies to `q` now; 0: none.
  int64_t MaxQueued(const Queue& q) const {
    return q.max_queued > 0 ? q.max_queued : options_.max_queued;
  }

  // Promotes due SCHEDULED jobs and forgets finished jobs past retention.
  // Returns the next time something is due, or 0 when nothing is.
  TimeUs Tick(TimeUs now);

  // Starts up to `max` READY jobs of unpaused queues within their limits,
  // taking turns between queues.
  std::vector<Assignment> TakeRunnable(TimeUs now, size_t max);

  // Starts up to `max` READY jobs of remote `kinds` in `queues` (empty: all)
  // for `worker`, highest priority first across those queues, each under a
  // lease of `lease` (or the job's timeout when shorter).
  std::vector<Assignment> TakeRemote(const std::vector<std::string>& kinds,
                                     const std::vector<std::string>& queues,
                                     const std::string& worker, TimeUs now,
                                     size_t max, DurationUs lease);

  // Leases due by `now` are renewed from the time their worker was last
  // heard from (`last_heard`, 0 when it is gone) when that is recent
  // enough; otherwise the job goes back to its queue (an attempt counted)
  // and is returned. Every renewal and loss is a transition.
  std::vector<LostLease> ExpireLeases(
      TimeUs now,
      const std::function<TimeUs(const std::string&, uint64_t)>& last_heard);

  // A remote worker's progress on its running attempt; false (ignored)
  // unless (seq, attempt) runs remotely.
  bool Progress(uint64_t seq, int32_t attempt, const v1::Progress& progress);

  // ---- Recurring schedules (scheduler_schedules.cc) ----
  // Each command checks, records its transition and applies it. A firing
  // is prepared as a submit is (PrepareEnqueue): the caller logs it as
  // withdrawable and later ApplyPrepared()s or Abandon()s it, so that the
  // firing and its job become visible together once durable.
  const ScheduleTable& schedules() const { return schedules_; }
  // ALREADY_EXISTS when the name is taken; `def` is checked
  // (ScheduleTable::Check) and its job validated by the caller.
  absl::StatusOr<const ScheduleEntry*> CreateSchedule(v1::Schedule def,
                                                      TimeUs now);
  absl::Status DeleteSchedule(const std::string& name);
  // Resuming passes over the slots that came while paused.
  absl::StatusOr<const ScheduleEntry*> PauseSchedule(const std::string& name,
                                                     bool paused, TimeUs now);
  // Firings of the slots due by `now`: for each schedule, its latest due
  // slot (several due at once fire once). A slot whose previous job has
  // not ended is passed over under OVERLAP_SKIP, as is one whose queue is
  // full.
  std::vector<wal::v1::Transition> DueFirings(TimeUs now);
  // A firing now, outside the slots; the job's id.
  absl::StatusOr<uint64_t> PrepareTrigger(const std::string& name, TimeUs now,
                                          wal::v1::Transition* fire);
  // After recovery: schedules under CATCH_UP_SKIP pass over the slots
  // missed while jobqd was down (CATCH_UP_ONCE ones fire their latest
  // missed slot through DueFirings).
  void CatchUpSchedules(TimeUs now);
  // When the next slot is due; 0: none.
  TimeUs NextScheduleDue() const { return schedules_.NextDue(); }

  // The only mutator of job state. Public so that recovery can replay.
  void Apply(const wal::v1::Transition& t);

  const Job* Find(uint64_t seq) const;
  // The remote run of a RUNNING job, or null.
  const RemoteRun* FindRemote(uint64_t seq) const { return leases_.Find(seq); }
  const absl::flat_hash_map<uint64_t, RemoteRun>& remote_runs() const {
    return leases_.runs();
  }
  // When the first lease ends; 0 when none is held.
  TimeUs next_lease() const { return leases_.next(); }

  // One page of the jobs that match `filter`, in id order, after the id
  // `after`: at most `limit` jobs, and whether another match follows.
  // Walks the narrowest index: the (queue, state) set; the merge of the
  // queue's sets by state; the merge of every queue's set of the state;
  // or, with neither a queue nor a state, every job. Looks at no more than
  // `max_visits` jobs (labels may reject many): when the budget runs out
  // first, the page says where to resume (JobPage::resume_after).
  // The pointers are valid until the next mutation.
  JobPage ListPage(const JobFilter& filter, uint64_t after, size_t limit,
                   size_t max_visits) const;
  // Calls `fn` with each unfinished job of `queue` whose state is in
  // `states` (bit 1 << v1::JobState), in id order, from the queue's index.
  void ForEachUnfinished(const std::string& queue, uint32_t states,
                         absl::FunctionRef<void(const Job&)> fn) const;
  bool IsLocal(const std::string& kind) const {
    return !options_.is_local || options_.is_local(kind);
  }
  // The API view of a job, its remote run included, and its attempts
  // unless `with_attempts` is false (listings).
  void ToProto(const Job& job, v1::Job* out, bool with_attempts = true) const;
  // The runs of `job`, oldest first: those that ended, then the running one.
  void AttemptsToProto(
      const Job& job,
      google::protobuf::RepeatedPtrField<v1::Attempt>* out) const;
  // Jobs whose runs are kept in the AttemptHistory (see there).
  size_t jobs_with_history() const { return attempts_.size(); }
  // The full state of `job`, as compaction writes it.
  void Snapshot(const Job& job, wal::v1::JobSnapshot* out) const;
  const Queue* FindQueue(const std::string& name) const;
  const absl::node_hash_map<std::string, Queue>& queues() const {
    return queues_;
  }
  // Every job held, in id order.
  using JobSet = absl::btree_set<Job, JobOrder>;
  const JobSet& jobs() const { return jobs_; }
  size_t running() const { return running_; }
  uint64_t next_seq() const { return next_seq_; }
  // About the bytes a snapshot of every job held would take.
  uint64_t retained_bytes() const { return retained_bytes_; }
  // Jobs not in a terminal state.
  size_t live() const { return live_; }

 private:
  Queue& GetQueue(const std::string& name);
  // Jobs are mutated in place: the set orders them by seq alone, which
  // never changes.
  static Job& Mut(const Job& job) { return const_cast<Job&>(job); }
  Job* Mutable(uint64_t seq) {
    const Job* job = Find(seq);
    return job == nullptr ? nullptr : &Mut(*job);
  }
  Job& At(uint64_t seq) { return *Mutable(seq); }
  void Record(const wal::v1::Transition& t);
  void SetState(Job& job, Queue& q, v1::JobState state);
  void MakeReady(Job& job, Queue& q);
  void Retire(Job& job, Queue& q, TimeUs at);
  void Emit(const Job& job, v1::JobState state);

  void ApplyEnqueue(const wal::v1::Enqueue& e);
  void ApplyStart(const wal::v1::Start& s);
  void ApplyFinish(const wal::v1::Finish& f);
  void ApplyCancel(const wal::v1::Cancel& c);
  void ApplyQueueSettings(const wal::v1::QueueSettings& s);
  void ApplyForget(const wal::v1::Forget& f);
  void ApplyRequeue(const wal::v1::Requeue& r);
  void ApplySnapshot(const wal::v1::JobSnapshot& s);
  void ApplyRenew(const wal::v1::Renew& r);
  void ApplyRetry(const wal::v1::Retry& r);
  void ApplyIdempotencyKey(const wal::v1::IdempotencyKey& k);

  // ---- Dependencies (scheduler_deps.cc). ----
  // Refuses a spec whose parents cannot succeed (see PrepareEnqueue).
  absl::Status CheckParents(const v1::JobSpec& spec,
                            absl::Span<const uint64_t> batch) const;
  void Pin(const v1::JobSpec& spec);
  void Unpin(const v1::JobSpec& spec);
  bool Pinned(uint64_t seq) const {
    return !pinned_.empty() && pinned_.contains(seq);
  }
  // A job with parents enters (or, retried, re-enters) the graph at `at`:
  // it takes the results of parents that have succeeded, waits for the
  // others, or is cancelled when one has ended without success. Returns
  // false when it was cancelled.
  bool JoinParents(Job& job, Queue& q, TimeUs at);
  // `parent` has ended at `at`: its waiting dependents take its result
  // and run once they have every result, or, when it did not succeed, are
  // cancelled (and theirs after them).
  void ReleaseDependents(const Job& parent, TimeUs at);
  // A WAITING job whose parents have all succeeded, by `at`: READY, or
  // SCHEDULED when its own ready_at is later.
  void EndWaiting(Job& job, Queue& q, TimeUs at);
  // Cancels a job because `parent` ended as it did.
  void CancelForParent(Job& job, const Job* parent, uint64_t parent_seq,
                       TimeUs at);
  // The running attempt of `job` ended at `at` as `outcome`; `terminal`:
  // the job ends with it. Recorded in attempts_ unless the job's own fields
  // keep describing it (ImplicitAttempt).
  void EndAttempt(const Job& job, TimeUs at, v1::AttemptOutcome outcome,
                  const std::string& error, int32_t exit_code, bool terminal);
  // Whether `job`'s only run is described by its own fields (a finished
  // job whose one local run ended it), and that run.
  bool ImplicitAttempt(const Job& job, AttemptRecord* run) const;
  // A snapshot's runs of `job` (whose fields are restored): its history,
  // or its implicit run's worker.
  void RestoreAttempts(
      const Job& job,
      const google::protobuf::RepeatedPtrField<v1::Attempt>& runs);
  // The retention set of a terminal job's state: dead_ or finished_.
  absl::btree_set<std::pair<TimeUs, uint64_t>>& RetentionSet(
      v1::JobState state) {
    return state == v1::JOB_STATE_DEAD ? dead_ : finished_;
  }
  void RememberKey(const std::string& key, uint64_t seq, TimeUs expires);
  // Forgets expired idempotency keys, at most `max`; returns when the next
  // one expires (0: none).
  TimeUs ExpireKeys(TimeUs now, size_t max);
  // Records Forget for the jobs past retention or over the caps.
  void ForgetRetired(TimeUs now);
  void ApplyScheduleFire(const wal::v1::ScheduleFire& f);
  void ApplyPreparedFire(const wal::v1::ScheduleFire& f);
  void AbandonFire(const wal::v1::ScheduleFire& f);
  absl::StatusOr<uint64_t> PrepareFire(ScheduleEntry& e, TimeUs slot,
                                       TimeUs now, wal::v1::Transition* t);
  // The READY set that holds `job`.
  absl::btree_set<ReadyKey>& ReadySet(Queue& q, const Job& job);
  // Takes a job out of every index (not of jobs_).
  void Unindex(Job& job, Queue& q);
  static uint64_t SizeOf(const Job& job);

  SchedulerOptions options_;
  JobObserver* observer_;
  TransitionLog* log_;

  NameTable names_;  // Queue and kind names of the jobs.
  JobSet jobs_;
  absl::node_hash_map<std::string, Queue> queues_;
  // SCHEDULED jobs by (ready_at, seq).
  absl::btree_set<std::pair<TimeUs, uint64_t>> scheduled_;
  // SUCCEEDED and CANCELLED jobs by (finished_at, seq), oldest first.
  absl::btree_set<std::pair<TimeUs, uint64_t>> finished_;
  // DEAD jobs the same way: their own retention and cap.
  absl::btree_set<std::pair<TimeUs, uint64_t>> dead_;
  uint64_t dead_dropped_ = 0;
  uint64_t dead_cap_crossings_ = 0;
  bool at_dead_cap_ = false;
  // Jobs running on remote workers, and their leases.
  LeaseTable leases_;
  // The runs of jobs that ran more than once, remotely, or were lost.
  AttemptHistory attempts_;
  // The worker that ran a job whose only run was remote: what its implicit
  // attempt (ImplicitAttempt) cannot read from the job's fields. A name
  // interned in names_, so that a remote job costs a map slot, not a
  // history entry.
  absl::flat_hash_map<uint64_t, const std::string*> ran_on_;
  ScheduleTable schedules_;
  // Idempotency keys by key: the job and when the key expires (its job's
  // submission + idempotency_window), held or not; and by expiry.
  struct KeyEntry {
    uint64_t seq;
    TimeUs expires;
  };
  absl::flat_hash_map<std::string, KeyEntry> idempotency_;
  absl::btree_set<KeyCursor> key_expiry_;
  // Keys of prepared enqueues not yet applied or abandoned.
  absl::flat_hash_map<std::string, uint64_t> pending_keys_;
  // The WAITING jobs of each parent that has not ended, in the order they
  // joined (an entry may have stopped waiting since: checked on release).
  absl::flat_hash_map<uint64_t, std::vector<uint64_t>> dependents_;
  // Parents named by prepared enqueues not yet applied or abandoned, with
  // how many name each.
  absl::flat_hash_map<uint64_t, uint32_t> pinned_;
  uint64_t retained_bytes_ = 0;
  uint64_t next_seq_ = 1;
  size_t running_ = 0;
  size_t live_ = 0;
  size_t queue_turn_ = 0;  // Rotates the first queue TakeRunnable serves.
};

}  // namespace jobq::core
