#include "engine/core_loop.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include "common/process.h"

namespace jobq::engine {

CoreLoop::CoreLoop(Options options, const Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      scheduler_(options_.scheduler, &hub_,
                 options_.log != nullptr ? &log_sink_ : nullptr),
      workers_(options_.workers, &scheduler_),
      acks_(&scheduler_, options_.log, options_.on_log_health),
      compactor_(options_.compaction, &scheduler_, options_.log, &acks_,
                 clock) {
  router_.workers = &workers_;
  log_sink_.log = options_.log;
  uv_loop_init(&loop_);
  uv_timer_init(&loop_, &timer_);
  timer_.data = this;
  tasks_ = std::make_unique<Channel<CoreTask>>(
      &loop_, [this](std::vector<CoreTask>& batch) { OnTasks(batch); },
      options_.hops, Hop::kReceive);
  results_ = std::make_unique<Channel<core::RunResult>>(
      &loop_, [this](std::vector<core::RunResult>& batch) { OnResults(batch); },
      options_.hops, Hop::kResult);
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

bool CoreLoop::Post(CoreTask task) { return tasks_->TryPost(task); }

bool CoreLoop::TryPost(CoreTask& task) { return tasks_->TryPost(task); }

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

store::LogEvents CoreLoop::LogEvents() {
  store::LogEvents events;
  events.on_withdrawn = [this](uint64_t batch, absl::Status s) {
    PostWithdrawn(batch, std::move(s));
  };
  events.on_health = [this](absl::Status s) { PostLogHealth(std::move(s)); };
  return events;
}

void CoreLoop::OnLogReports(std::vector<LogReport>& batch) {
  if (options_.hops != nullptr) turn_started_us_ = HopNowUs();
  for (auto& r : batch) {
    switch (r.kind) {
      case LogReport::kCommitted:
        TimeDurable(r.batch);
        acks_.Committed(r.batch, r.status);
        break;
      case LogReport::kWithdrawn:
        acks_.Withdrawn(r.batch, r.status);
        break;
      case LogReport::kHealth:
        acks_.Health(r.status);
        break;
    }
  }
  Pump();
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

void CoreLoop::NoteCommit() {
  uint64_t id = options_.log->last_commit();
  if (id != 0 && (committed_at_.empty() || committed_at_.back().first < id)) {
    committed_at_.emplace_back(id, HopNowUs());
  }
}

void CoreLoop::TimeDurable(uint64_t durable) {
  if (options_.hops == nullptr) return;
  int64_t now = HopNowUs();
  while (!committed_at_.empty() && committed_at_.front().first <= durable) {
    options_.hops->Record(Hop::kLog, now - committed_at_.front().second);
    committed_at_.pop_front();
  }
}

void CoreLoop::OnTasks(std::vector<CoreTask>& batch) {
  if (options_.hops != nullptr) turn_started_us_ = HopNowUs();
  CoreContext ctx = Context();
  for (auto& task : batch) task(ctx);
  Pump();
}

void CoreLoop::OnResults(std::vector<core::RunResult>& batch) {
  if (options_.hops != nullptr) turn_started_us_ = HopNowUs();
  TimeUs now = clock_->Now();
  for (const auto& r : batch) scheduler_.Finish(r, now);
  Pump();
}

// `noop` has nothing to run: handing it to a worker loop and its result
// back would cost two thread switches (about 100 µs together on 2 cores) of
// every such job's latency. Up to kNoopsPerTurn are finished here, in the
// turn that starts them, and their RUNNING and SUCCEEDED leave with their
// ack; more go to the worker loops, so that a turn stays short.
bool CoreLoop::StartLocal(TimeUs now) {
  constexpr size_t kNoopsPerTurn = 256;
  size_t noops = 0;
  while (true) {
    size_t local = scheduler_.running() - scheduler_.remote_runs().size();
    if (local >= options_.max_running) return false;
    auto jobs = scheduler_.TakeRunnable(now, options_.max_running - local);
    size_t finished = 0;
    auto dispatched = std::remove_if(jobs.begin(), jobs.end(), [&](auto& job) {
      if (noops == kNoopsPerTurn || job.kind != "noop") return false;
      ++noops;
      ++finished;
      if (options_.hops != nullptr) options_.hops->Record(Hop::kRun, 0);
      core::RunResult done;
      done.seq = job.seq;
      done.attempt = job.attempt;
      done.success = true;
      scheduler_.Finish(done, now);
      return true;
    });
    jobs.erase(dispatched, jobs.end());
    if (!jobs.empty()) router_.pool->Dispatch(std::move(jobs));
    // What the noops released (their slots, their dependents) starts now,
    // or, past the turn's share, in a turn of its own.
    if (finished == 0) return false;
    if (noops == kNoopsPerTurn) return true;
  }
}

void CoreLoop::Pump() {
  if (closing_) return;
  // A timer's turn begins here; a channel's, in its handler.
  if (options_.hops != nullptr && turn_started_us_ == 0) {
    turn_started_us_ = HopNowUs();
  }
  TimeUs now = clock_->Now();
  workers_.ExpireLeases(now);
  TimeUs next = scheduler_.Tick(now);
  // Schedules' slots: each firing is applied (its job appears) once its
  // record is durable. While the log cannot write, none fires.
  if (!acks_.degraded() && !draining_) {
    for (auto& fire : scheduler_.DueFirings(now)) {
      acks_.AppendPrepared(std::move(fire));
    }
  }
  if (TimeUs slot = scheduler_.NextScheduleDue(); slot > 0) {
    next = next == 0 ? slot : std::min(next, slot);
  }
  ReturnFreedMemory();
  if (options_.log == nullptr) acks_.Commit();  // This turn's submits.
  // While the log cannot write, nothing new starts: a start that is not
  // stored would run the job again after a restart, and it only grows
  // what waits for the disk.
  bool starting = !draining_ && !acks_.degraded();
  if (starting && StartLocal(now)) next = now;
  if (starting) workers_.Dispatch(now);
  if (TimeUs lease = scheduler_.next_lease(); lease > 0) {
    next = next == 0 ? lease : std::min(next, lease);  // New leases too.
  }
  // A rate-limited queue's READY jobs start when its next token is there,
  // whether or not anything else wakes the core.
  if (TimeUs token = scheduler_.RateWake(now); token > 0 && starting) {
    next = next == 0 ? token : std::min(next, token);
  }
  if (scheduler_.dead_cap_crossings() != dead_cap_crossings_) {
    dead_cap_crossings_ = scheduler_.dead_cap_crossings();
    spdlog::warn(
        "{} DEAD jobs held, --max-dead: the oldest are forgotten from now on "
        "(jobq_dead_dropped_total); retry or purge them",
        scheduler_.dead());
  }
  if (options_.log != nullptr) {
    if (!acks_.degraded()) compactor_.Step();
    acks_.Commit();
    if (options_.hops != nullptr) NoteCommit();
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
  if (options_.hops != nullptr) {
    options_.hops->Since(Hop::kTurn, turn_started_us_);
    turn_started_us_ = 0;
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
    if (options_.log != nullptr) options_.log->Commit();
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

}  // namespace jobq::engine
