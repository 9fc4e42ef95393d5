#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/clock.h"
#include "core/scheduler.h"
#include "engine/durable_acks.h"
#include "store/log.h"

namespace jobq::engine {

// Compaction: when the log has grown past `min_bytes` and twice the size of
// a snapshot of the live jobs, a snapshot begins (store::Log::BeginSnapshot)
// and the state of every job is appended to it, `chunk` jobs per core turn
// so that no turn pauses long, then the idempotency keys still remembered
// for jobs no longer held; once the last chunk is committed the log
// drops what came before the snapshot (EndSnapshot). Service goes on
// meanwhile: a transition of a job that is written before the job's
// snapshot is ignored on replay unless the job is known from before (which
// then still exists), and the snapshot reflects it anyway.
// Thread: the core thread only.
class Compactor {
 public:
  struct Options {
    uint64_t min_bytes = 64 << 20;
    size_t chunk = 20'000;
  };

  Compactor(Options options, core::Scheduler* scheduler, store::Log* log,
            DurableAcks* acks, const Clock* clock)
      : options_(options),
        scheduler_(scheduler),
        log_(log),
        acks_(acks),
        clock_(clock) {}

  // Once per turn, while the log takes writes and before the turn's commit:
  // starts a snapshot when one is due, and writes its next chunk.
  void Step();
  bool active() const { return active_; }

 private:
  void Begin();

  const Options options_;
  core::Scheduler* const scheduler_;
  store::Log* const log_;
  DurableAcks* const acks_;
  const Clock* const clock_;

  // In progress: jobs with ids in (cursor_, limit_) remain.
  bool active_ = false;
  uint64_t cursor_ = 0;
  uint64_t limit_ = 0;
  size_t jobs_ = 0;
  // After the jobs: the idempotency keys of forgotten jobs, from after
  // key_cursor_ (in expiry order).
  bool keys_phase_ = false;
  std::optional<core::Scheduler::KeyCursor> key_cursor_;
  TimeUs started_ = 0;
};

}  // namespace jobq::engine
