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
#include "engine/compactor.h"
#include "engine/durable_acks.h"
#include "events/event_hub.h"
#include "remote/registry.h"
#include "store/log.h"

namespace jobq::engine {

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
    // The log, or null to hold jobs in memory only. Must be recovered and
    // started; must outlive the loop.
    store::Log* log = nullptr;
    // When compaction starts, and how much of it a turn does.
    Compactor::Options compaction;
    // Called on the core thread when the log stops taking writes (its
    // error) and when it takes them again (OK).
    std::function<void(const absl::Status&)> on_log_health;
    // Times the core's hops (tasks and results handed to it, the log's
    // commits, its turns); null: not timed. Must outlive the loop.
    LatencyHops* hops = nullptr;
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
  // As Post, but `task` is left to the caller when the loop has stopped.
  bool TryPost(CoreTask& task);
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
  store::LogEvents LogEvents();

  // Core thread: the durable-ack pipeline (see DurableAcks). Submits become
  // visible (and run) once their records are durable; every other change
  // is refused while Writable() is not OK, applied, then answered through
  // AfterDurable. While the log cannot write, no job is started.
  DurableAcks& acks() { return acks_; }
  void Submit(std::vector<v1::JobSpec> specs, TimeUs now, SubmitDone done) {
    acks_.Submit(std::move(specs), now, std::move(done));
  }
  const absl::Status& Writable() const { return acks_.Writable(); }
  void AfterDurable(DurableDone done) { acks_.AfterDurable(std::move(done)); }
  bool degraded() const { return acks_.degraded(); }

  // Core thread: what a task may use, for answers that run outside a task
  // (the durable-ack pipeline's).
  CoreContext Context();

  // The log, or null in memory mode.
  store::Log* log() const { return options_.log; }

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
  void ReturnFreedMemory();
  // With options_.hops: notes the batch this turn committed, and times the
  // batches up to `durable` that the log reported.
  void NoteCommit();
  void TimeDurable(uint64_t durable);
  // After every batch: promote, dispatch, flush, re-arm the timer.
  void Pump();
  // Starts what may run on the worker pool, finishing noops here. True
  // when more may be startable at once (a turn of its own should follow).
  bool StartLocal(TimeUs now);

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
  struct LogSink final : core::TransitionLog {
    store::Log* log = nullptr;
    void Append(const wal::v1::Transition& t) override { log->Append(t); }
  };
  LogSink log_sink_;
  core::Scheduler scheduler_;
  remote::Registry workers_;

  DurableAcks acks_;
  Compactor compactor_;
  uint64_t dead_cap_crossings_ = 0;  // Logged so far.
  // With options_.hops: when each batch not yet reported was committed,
  // and when this turn began.
  std::deque<std::pair<uint64_t, int64_t>> committed_at_;
  int64_t turn_started_us_ = 0;
  size_t peak_jobs_ = 0;  // Jobs held at most since memory was last trimmed.
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

}  // namespace jobq::engine
