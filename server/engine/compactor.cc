#include "engine/compactor.h"

#include <spdlog/spdlog.h>

namespace jobq::engine {

void Compactor::Begin() {
  active_ = true;
  cursor_ = 0;
  limit_ = scheduler_->next_seq();
  jobs_ = 0;
  keys_phase_ = false;
  key_cursor_.reset();
  started_ = clock_->Now();
  log_->BeginSnapshot();
  spdlog::info("compaction: log is {} bytes, live jobs about {}; starting",
               log_->log_bytes(), scheduler_->retained_bytes());
  wal::v1::Transition t;
  for (const auto& [name, q] : scheduler_->queues()) {
    if (!q.paused && q.max_concurrency == 0 && q.max_queued == 0 &&
        !q.starts.limited()) {
      continue;
    }
    core::Scheduler::Settings(q, t.mutable_queue_settings());
    log_->Append(t);
  }
  // Every schedule and its last slot, before the firings in flight that
  // ReappendPending writes again.
  for (const auto& [name, e] : scheduler_->schedules().entries()) {
    core::ScheduleTable::Snapshot(e, t.mutable_schedule_put());
    log_->Append(t);
  }
  acks_->ReappendPending();
}

void Compactor::Step() {
  if (!active_) {
    uint64_t bytes = log_->log_bytes();
    if (bytes < options_.min_bytes ||
        bytes < 2 * scheduler_->retained_bytes()) {
      return;
    }
    Begin();
  }
  if (!keys_phase_) {
    const auto& jobs = scheduler_->jobs();
    wal::v1::Transition t;
    size_t n = 0;
    auto it = jobs.upper_bound(cursor_);
    for (; it != jobs.end() && it->seq < limit_ && n < options_.chunk;
         ++it, ++n) {
      scheduler_->Snapshot(*it, t.mutable_snapshot());
      log_->Append(t);
      cursor_ = it->seq;
    }
    jobs_ += n;
    if (it != jobs.end() && it->seq < limit_) return;
    keys_phase_ = true;  // Next turn: the keys of jobs no longer held.
    return;
  }
  // Idempotency keys outlive their jobs (--idempotency-window): those of
  // jobs no longer held go into the snapshot as records of their own.
  wal::v1::Transition t;
  auto last = scheduler_->ForEachForgottenKey(
      key_cursor_, options_.chunk, [&](const wal::v1::IdempotencyKey& k) {
        *t.mutable_idempotency_key() = k;
        log_->Append(t);
      });
  if (last) {
    key_cursor_ = std::move(last);
    return;
  }
  log_->EndSnapshot();
  active_ = false;
  spdlog::info("compaction: {} jobs written in {} ms; old segments go", jobs_,
               (clock_->Now() - started_) / 1000);
}

}  // namespace jobq::engine
