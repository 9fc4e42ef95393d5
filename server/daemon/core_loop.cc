#include "daemon/core_loop.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <future>

#include "common/process.h"

namespace jobq::daemon {

CoreLoop::CoreLoop(Options options, const Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      scheduler_(options_.scheduler, &hub_,
                 options_.wal != nullptr ? &wal_log_ : nullptr),
      workers_(options_.workers, &scheduler_) {
  router_.workers = &workers_;
  wal_log_.wal = options_.wal;
  uv_loop_init(&loop_);
  uv_timer_init(&loop_, &timer_);
  timer_.data = this;
  tasks_ = std::make_unique<Channel<CoreTask>>(
      &loop_, [this](std::vector<CoreTask>& batch) { OnTasks(batch); });
  results_ = std::make_unique<Channel<core::RunResult>>(
      &loop_,
      [this](std::vector<core::RunResult>& batch) { OnResults(batch); });
  log_reports_ = std::make_unique<Channel<LogReport>>(
      &loop_, [this](std::vector<LogReport>& batch) { OnLogReports(batch); });
}

CoreLoop::~CoreLoop() {
  Stop();
  uv_loop_close(&loop_);
}

void CoreLoop::Start(core::Dispatcher* dispatcher) {
  router_.pool = dispatcher;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "jobq-core");
    uv_run(&loop_, UV_RUN_DEFAULT);
  });
  // A first turn: recovered jobs start, timers are armed, and recovery's
  // own records are committed without waiting for a request.
  Post([](CoreContext&) {});
}

bool CoreLoop::Post(CoreTask task) { return tasks_->Post(std::move(task)); }

void CoreLoop::PostResults(std::vector<core::RunResult>&& results) {
  results_->PostMany(std::move(results));
}

void CoreLoop::PostCommitted(uint64_t batch, absl::Status status) {
  log_reports_->Post({LogReport::kCommitted, batch, std::move(status)});
}

void CoreLoop::PostWithdrawn(uint64_t batch, absl::Status status) {
  log_reports_->Post({LogReport::kWithdrawn, batch, std::move(status)});
}

void CoreLoop::PostLogHealth(absl::Status status) {
  log_reports_->Post({LogReport::kHealth, 0, std::move(status)});
}

store::CommitCallback CoreLoop::CommitCallback() {
  return [this](uint64_t batch, absl::Status s) {
    PostCommitted(batch, std::move(s));
  };
}

store::WalEvents CoreLoop::LogEvents() {
  store::WalEvents events;
  events.on_withdrawn = [this](uint64_t batch, absl::Status s) {
    PostWithdrawn(batch, std::move(s));
  };
  events.on_health = [this](absl::Status s) { PostLogHealth(std::move(s)); };
  return events;
}

void CoreLoop::Submit(std::vector<v1::JobSpec> specs, TimeUs now,
                      SubmitDone done) {
  // An empty submit is a barrier behind the earlier ones: it keeps its
  // place even while the log cannot write.
  if (!log_failure_.ok() && !specs.empty()) {
    CoreContext ctx = Context();
    done(ctx, log_failure_, {});
    return;
  }
  PendingAck ack{0, {}, std::move(done)};
  ack.outcomes.reserve(specs.size());
  wal::v1::Transition t;
  for (auto& spec : specs) {
    core::SubmitOutcome out =
        scheduler_.PrepareEnqueue(std::move(spec), now, &t);
    if (!out.duplicate && !out.refused()) {
      if (options_.wal != nullptr) options_.wal->Append(t, true);
      pending_enqueues_.push_back({0, std::move(t)});
    }
    ack.outcomes.push_back(out);
  }
  acks_.push_back(std::move(ack));
}

void CoreLoop::AfterDurable(DurableDone done) {
  changes_.push_back({0, std::move(done)});
}

// Every entry up to `batch` (0: the current turn's, untagged).
static bool Due(uint64_t batch, uint64_t b) {
  return batch == 0 ? b == 0 : b <= batch && b != 0;
}

void CoreLoop::Resolve(uint64_t batch, const absl::Status& status) {
  while (!pending_enqueues_.empty() &&
         Due(batch, pending_enqueues_.front().batch)) {
    const auto& t = pending_enqueues_.front().enqueue;
    if (status.ok()) {
      scheduler_.ApplyPrepared(t);
    } else {
      scheduler_.Abandon(t);
    }
    pending_enqueues_.pop_front();
  }
  while (!changes_.empty() && Due(batch, changes_.front().batch)) {
    DurableDone done = std::move(changes_.front().done);
    changes_.pop_front();
    done(status);
  }
  AnswerSubmits(batch, status);
}

void CoreLoop::Withdraw(uint64_t batch, const absl::Status& status) {
  while (!pending_enqueues_.empty() &&
         Due(batch, pending_enqueues_.front().batch)) {
    scheduler_.Abandon(pending_enqueues_.front().enqueue);
    pending_enqueues_.pop_front();
  }
  AnswerSubmits(batch, status);
}

void CoreLoop::AnswerSubmits(uint64_t batch, const absl::Status& status) {
  if (acks_.empty() || !Due(batch, acks_.front().batch)) return;
  CoreContext ctx = Context();
  while (!acks_.empty() && Due(batch, acks_.front().batch)) {
    PendingAck ack = std::move(acks_.front());
    acks_.pop_front();
    ack.done(ctx, status, ack.outcomes);
  }
}

void CoreLoop::AbandonWaiting(const absl::Status& status) {
  if (log_failure_.ok()) return;
  for (auto& p : pending_enqueues_) scheduler_.Abandon(p.enqueue);
  pending_enqueues_.clear();
  while (!changes_.empty()) {
    DurableDone done = std::move(changes_.front().done);
    changes_.pop_front();
    done(status);
  }
  CoreContext ctx = Context();
  while (!acks_.empty()) {
    PendingAck ack = std::move(acks_.front());
    acks_.pop_front();
    ack.done(ctx, status, {});
  }
}

void CoreLoop::SetLogHealth(const absl::Status& status) {
  // A failure for good stays.
  if (!resolved_status_.ok()) return;
  log_failure_ = status;
  if (options_.on_log_health) options_.on_log_health(status);
}

void CoreLoop::OnLogReports(std::vector<LogReport>& batch) {
  for (auto& r : batch) {
    switch (r.kind) {
      case LogReport::kCommitted:
        resolved_batch_ = std::max(resolved_batch_, r.batch);
        if (!r.status.ok() && resolved_status_.ok()) {
          // Never stored: the log has failed for good (or is stopping).
          log_failure_ = r.status;
          resolved_status_ = r.status;
          if (options_.on_log_health) options_.on_log_health(r.status);
        }
        Resolve(r.batch, r.status);
        break;
      case LogReport::kWithdrawn:
        withdrawn_batch_ = std::max(withdrawn_batch_, r.batch);
        withdrawn_status_ = r.status;
        Withdraw(r.batch, r.status);
        break;
      case LogReport::kHealth:
        SetLogHealth(r.status);
        break;
    }
  }
  Pump();
}

void CoreLoop::Commit() {
  store::Wal* wal = options_.wal;
  if (wal == nullptr) {
    // In memory, a turn's submits are "stored" when it ends.
    Resolve(0, absl::OkStatus());
    return;
  }
  uint64_t id = wal->Commit();
  // A turn that wrote nothing may still hold acks (duplicates of jobs in
  // earlier batches): they wait for the last batch.
  if (id == 0) id = wal->last_commit();
  for (auto it = pending_enqueues_.rbegin();
       it != pending_enqueues_.rend() && it->batch == 0; ++it) {
    it->batch = id;
  }
  for (auto it = acks_.rbegin(); it != acks_.rend() && it->batch == 0; ++it) {
    it->batch = id;
  }
  for (auto it = changes_.rbegin(); it != changes_.rend() && it->batch == 0;
       ++it) {
    it->batch = id;
  }
  // Nothing new was written and the last batch is already answered (or its
  // enqueues withdrawn): these share its fate now.
  if (id == 0) {
    Resolve(0, absl::OkStatus());
  } else if (id <= resolved_batch_) {
    Resolve(id, resolved_status_);
  } else if (id <= withdrawn_batch_) {
    Withdraw(id, withdrawn_status_);
  }
}

// Compaction: a new segment starts, and the state of every job is written
// into it a chunk per turn; once the last chunk is durable the older
// segments are deleted. Service goes on meanwhile: a transition of a job
// that is written before the job's snapshot is ignored on replay unless the
// job is known from an older segment (which then still exists), and the
// snapshot reflects it anyway.
void CoreLoop::Compact() {
  store::Wal* wal = options_.wal;
  if (wal == nullptr) return;
  if (!snapshot_.active) {
    uint64_t bytes = wal->log_bytes();
    if (bytes < options_.compact_min_bytes ||
        bytes < 2 * scheduler_.retained_bytes()) {
      return;
    }
    snapshot_ = Snapshot{true, 0, scheduler_.next_seq(), 0, clock_->Now()};
    wal->RotateAtNextCommit();
    spdlog::info("compaction: log is {} bytes, live jobs about {}; starting",
                 bytes, scheduler_.retained_bytes());
    wal::v1::Transition t;
    for (const auto& [name, q] : scheduler_.queues()) {
      if (!q.paused && q.max_concurrency == 0 && q.max_queued == 0) continue;
      core::Scheduler::Settings(q, t.mutable_queue_settings());
      wal->Append(t);
    }
    // Enqueues not yet durable may sit in the old segments only: write them
    // again into the new one, and answer them with its first batch. These
    // copies are not withdrawable: the first copy may be stored already,
    // so the job is applied once the copy in the new segment is.
    for (auto& p : pending_enqueues_) {
      wal->Append(p.enqueue);
      p.batch = 0;
    }
    for (auto& a : acks_) a.batch = 0;
  }
  const auto& jobs = scheduler_.jobs();
  wal::v1::Transition t;
  size_t n = 0;
  auto it = jobs.upper_bound(snapshot_.cursor);
  for (; it != jobs.end() && it->seq < snapshot_.limit &&
         n < options_.snapshot_chunk;
       ++it, ++n) {
    scheduler_.Snapshot(*it, t.mutable_snapshot());
    wal->Append(t);
    snapshot_.cursor = it->seq;
  }
  snapshot_.jobs += n;
  if (it == jobs.end() || it->seq >= snapshot_.limit) {
    wal->DropOldSegmentsAtNextCommit();
    snapshot_.active = false;
    spdlog::info("compaction: {} jobs written in {} ms; old segments go",
                 snapshot_.jobs, (clock_->Now() - snapshot_.started) / 1000);
  }
}

// glibc keeps freed memory for reuse; after retention has let go of a large
// share of the jobs, hand it back to the system so that the resident size
// follows the jobs held. Rare, and bounded by the drop that triggers it.
void CoreLoop::ReturnFreedMemory() {
  size_t held = scheduler_.jobs().size();
  peak_jobs_ = std::max(peak_jobs_, held);
  if (peak_jobs_ >= 100'000 && held < peak_jobs_ / 2) {
    ReleaseFreeMemory();
    peak_jobs_ = held;
  }
}

CoreContext CoreLoop::Context() {
  return CoreContext{scheduler_, hub_, router_, workers_, clock_->Now(), *this};
}

void CoreLoop::OnTasks(std::vector<CoreTask>& batch) {
  CoreContext ctx = Context();
  for (auto& task : batch) task(ctx);
  Pump();
}

void CoreLoop::OnResults(std::vector<core::RunResult>& batch) {
  TimeUs now = clock_->Now();
  for (const auto& r : batch) scheduler_.Finish(r, now);
  Pump();
}

void CoreLoop::Pump() {
  if (closing_) return;
  TimeUs now = clock_->Now();
  workers_.ExpireLeases(now);
  TimeUs next = scheduler_.Tick(now);
  ReturnFreedMemory();
  if (options_.wal == nullptr) Commit();  // Makes this turn's submits ready.
  // While the log cannot write, nothing new starts: a start that is not
  // stored would run the job again after a restart, and it only grows
  // what waits for the disk.
  bool starting = !draining_ && log_failure_.ok();
  size_t local = scheduler_.running() - scheduler_.remote_runs().size();
  if (starting && local < options_.max_running) {
    auto jobs = scheduler_.TakeRunnable(now, options_.max_running - local);
    if (!jobs.empty()) router_.pool->Dispatch(std::move(jobs));
  }
  if (starting) workers_.Dispatch(now);
  if (TimeUs lease = scheduler_.next_lease(); lease > 0) {
    next = next == 0 ? lease : std::min(next, lease);  // New leases too.
  }
  if (options_.wal != nullptr) {
    if (log_failure_.ok()) Compact();
    Commit();
  }
  hub_.FlushAll();
  workers_.FlushAll();
  if (next > 0) {
    uint64_t ms =
        next > now ? static_cast<uint64_t>((next - now + 999) / 1000) : 0;
    uv_timer_start(
        &timer_, [](uv_timer_t* t) { static_cast<CoreLoop*>(t->data)->Pump(); },
        ms, 0);
  } else {
    uv_timer_stop(&timer_);
  }
  if (on_idle_ && scheduler_.running() == 0) {
    auto done = std::move(on_idle_);
    on_idle_ = nullptr;
    done();
  }
}

size_t CoreLoop::Drain(DurationUs grace) {
  auto idle = std::make_shared<std::promise<void>>();
  std::future<void> idle_future = idle->get_future();
  bool posted = Post([idle](CoreContext& ctx) {
    ctx.loop.draining_ = true;
    ctx.workers.Drain();
    ctx.loop.on_idle_ = [idle] { idle->set_value(); };
  });
  if (!posted) return 0;
  idle_future.wait_for(std::chrono::microseconds(grace));
  auto count = std::make_shared<std::promise<size_t>>();
  std::future<size_t> count_future = count->get_future();
  if (!Post([count](CoreContext& ctx) {
        ctx.loop.on_idle_ = nullptr;
        count->set_value(ctx.scheduler.running());
      })) {
    return 0;
  }
  return count_future.get();
}

void CoreLoop::Stop() {
  if (stopped_) return;
  stopped_ = true;
  auto close_all = [this] {
    if (options_.wal != nullptr) options_.wal->Commit();
    closing_ = true;
    tasks_->Close();
    results_->Close();
    log_reports_->Close();
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  };
  if (thread_.joinable()) {
    // Closing must happen on the loop thread; the last task does it.
    Post([close_all](CoreContext&) { close_all(); });
    thread_.join();
  } else {
    close_all();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
}

}  // namespace jobq::daemon
