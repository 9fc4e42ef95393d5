#pragma once

#include <uv.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "common/channel.h"
#include "common/clock.h"
#include "core/dispatcher.h"
#include "core/scheduler.h"
#include "events/event_hub.h"
#include "remote/registry.h"
#include "store/wal.h"

namespace jobq::daemon {

class CoreLoop;

// What a task posted to the core may use. Valid only during the task.
struct CoreContext {
  core::Scheduler& scheduler;
  events::EventHub& hub;
  // Runs jobs: the worker pool, or the remote worker that holds the job.
  core::Dispatcher& dispatcher;
  remote::Registry& workers;
  TimeUs now;
  CoreLoop& loop;
};

using CoreTask = absl::AnyInvocable<void(CoreContext&)>;

// Told, on the core thread, whether submitted jobs were stored: OK with one
// outcome per spec, or the log's error (none of them was stored, and the
// outcomes may be empty).
using SubmitDone =
    absl::AnyInvocable<void(CoreContext&, const absl::Status&,
                            const std::vector<core::SubmitOutcome>&)>;
// Told, on the core thread, that the changes made before it was registered
// are durable (OK), or that they never will be (the log failed for good).
using DurableDone = absl::AnyInvocable<void(const absl::Status&)>;

// The one thread that owns all job state: a libuv loop that runs the
// Scheduler and the EventHub. Tasks from gRPC threads and results from worker
// loops arrive through channels and are drained in batches; after each batch
// the loop promotes due jobs, dispatches what may start, flushes event
// streams once, and arms its timer for the next deadline.
// Thread: Post*/Drain/Stop from any thread; everything else on the loop.
class CoreLoop {
 public:
  struct Options {
    core::SchedulerOptions scheduler;
    // Jobs running at once on the worker pool, all queues together.
    size_t max_running = 100'000;
    remote::RegistryOptions workers;
    // The write-ahead log, or null to hold jobs in memory only. Must be
    // recovered and started; must outlive the loop.
    store::Wal* wal = nullptr;
    // Compaction starts when the log is larger than this and than twice
    // the size of a snapshot of the live jobs.
    uint64_t compact_min_bytes = 64 << 20;
    // Jobs snapshotted per loop turn during compaction (bounds the pause).
    size_t snapshot_chunk = 20'000;
    // Called on the core thread when the log stops taking writes (its
    // error) and when it takes them again (OK).
    std::function<void(const absl::Status&)> on_log_health;
  };

  CoreLoop(Options options, const Clock* clock);
  ~CoreLoop();
  CoreLoop(const CoreLoop&) = delete;
  CoreLoop& operator=(const CoreLoop&) = delete;

  // `dispatcher` must outlive the loop's thread.
  void Start(core::Dispatcher* dispatcher);

  // Runs `task` on the core thread. False (and the task is dropped) once the
  // loop has stopped.
  bool Post(CoreTask task);
  // Hands finished runs to the scheduler.
  void PostResults(std::vector<core::RunResult>&& results);

  // From the log's writer thread, in the order the log reports them:
  // batches up to `batch` are durable (OK) or will never be (the error);
  // their enqueues were withdrawn; the log's health changed.
  void PostCommitted(uint64_t batch, absl::Status status);
  void PostWithdrawn(uint64_t batch, absl::Status status);
  void PostLogHealth(absl::Status status);
  // The log's callbacks, wired to the Post* above.
  store::CommitCallback CommitCallback();
  store::WalEvents LogEvents();

  // Core thread: enqueues validated specs. They become visible (and run)
  // and `done` is called once their records are durable, or `done` gets
  // the log's error and they are dropped. Without a log, at the end of the
  // current turn. While the log cannot write, refused at once.
  void Submit(std::vector<v1::JobSpec> specs, TimeUs now, SubmitDone done);

  // Core thread. Every change a client asks for follows the same steps so
  // that no OK goes out before it is durable, and a refusal changes
  // nothing:
  //   1. Writable(): if not OK, refuse with it, before changing anything.
  //   2. Change the scheduler (its transitions go to the log).
  //   3. AfterDurable(done): answer in `done`.
  // Not OK while the log cannot write (a full disk) or has failed for good.
  const absl::Status& Writable() const { return log_failure_; }
  void AfterDurable(DurableDone done);
  // True while the log cannot write: no job is started.
  bool degraded() const { return !log_failure_.ok(); }
  // Shutdown: while the log cannot write, answers every change and submit
  // still waiting for it with `status` (they would hold the gRPC server's
  // shutdown until the disk has space again); unapplied enqueues are
  // dropped. Nothing when the log writes: those answers come soon.
  void AbandonWaiting(const absl::Status& status);

  // Core thread: recovery replays into this before Start().
  core::Scheduler& scheduler() { return scheduler_; }

  // Stops starting jobs and waits up to `grace` for running ones to finish.
  // Returns the number still running.
  size_t Drain(DurationUs grace);
  // Stops the loop and joins its thread. Tasks already posted still run.
  void Stop();

 private:
  void OnTasks(std::vector<CoreTask>& batch);
  void OnResults(std::vector<core::RunResult>& batch);
  // What the log's writer reports.
  struct LogReport {
    enum Kind { kCommitted, kWithdrawn, kHealth } kind;
    uint64_t batch = 0;
    absl::Status status;
  };
  void OnLogReports(std::vector<LogReport>& batch);
  void SetLogHealth(const absl::Status& status);
  // Applies (or drops) pending enqueues and answers what waits on batches
  // up to `batch`; batch 0 entries are those of the current turn.
  void Resolve(uint64_t batch, const absl::Status& status);
  // Drops the pending enqueues of batches up to `batch` and answers their
  // submits with `status`.
  void Withdraw(uint64_t batch, const absl::Status& status);
  // Answers the submits of batches up to `batch` with `status`.
  void AnswerSubmits(uint64_t batch, const absl::Status& status);
  void Commit();
  void Compact();
  void ReturnFreedMemory();
  // After every batch: promote, dispatch, flush, re-arm the timer.
  void Pump();
  CoreContext Context();

  Options options_;
  const Clock* clock_;
  // Sends a cancel to whoever runs the job: a remote worker or the pool.
  struct Router final : core::Dispatcher {
    core::Dispatcher* pool = nullptr;
    remote::Registry* workers = nullptr;
    void Dispatch(std::vector<core::Assignment>&& jobs) override {
      pool->Dispatch(std::move(jobs));
    }
    void Cancel(uint64_t seq, int32_t attempt) override {
      if (!workers->Revoke(seq, attempt, "cancelled")) {
        pool->Cancel(seq, attempt);
      }
    }
  };
  Router router_;
  events::EventHub hub_;
  // Hands every transition to the log.
  struct WalLog final : core::TransitionLog {
    store::Wal* wal = nullptr;
    void Append(const wal::v1::Transition& t) override { wal->Append(t); }
  };
  WalLog wal_log_;
  core::Scheduler scheduler_;
  remote::Registry workers_;

  // Submits waiting for their batch: batch 0 until the turn's commit.
  struct PendingEnqueue {
    uint64_t batch;
    wal::v1::Transition enqueue;
  };
  struct PendingAck {
    uint64_t batch;
    std::vector<core::SubmitOutcome> outcomes;
    SubmitDone done;
  };
  // A change already applied, answered once its batch is durable.
  struct PendingChange {
    uint64_t batch;
    DurableDone done;
  };
  std::deque<PendingEnqueue> pending_enqueues_;
  std::deque<PendingAck> acks_;
  std::deque<PendingChange> changes_;
  size_t peak_jobs_ = 0;  // Jobs held at most since memory was last trimmed.
  // The last batch the log reported on, and how it went.
  uint64_t resolved_batch_ = 0;
  absl::Status resolved_status_;
  // The last batch whose enqueues were withdrawn, and why.
  uint64_t withdrawn_batch_ = 0;
  absl::Status withdrawn_status_;
  // Not OK while the log cannot write, or once it has failed for good.
  absl::Status log_failure_;

  // Compaction in progress: jobs with ids in (cursor, limit) remain.
  struct Snapshot {
    bool active = false;
    uint64_t cursor = 0;
    uint64_t limit = 0;
    size_t jobs = 0;
    TimeUs started = 0;
  };
  Snapshot snapshot_;
  uv_loop_t loop_;
  uv_timer_t timer_;
  std::unique_ptr<Channel<CoreTask>> tasks_;
  std::unique_ptr<Channel<core::RunResult>> results_;
  std::unique_ptr<Channel<LogReport>> log_reports_;
  std::thread thread_;
  bool draining_ = false;          // Loop thread.
  std::function<void()> on_idle_;  // Loop thread: drain waiter.
  bool closing_ = false;           // Loop thread.
  bool stopped_ = false;
};

}  // namespace jobq::daemon
