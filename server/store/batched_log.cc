#include "store/batched_log.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace jobq::store {

void BatchedLog::StartWriter(CommitCallback on_commit, LogEvents events,
                             const char* thread) {
  on_commit_ = std::move(on_commit);
  events_ = std::move(events);
  writer_ = std::thread([this, thread] {
    pthread_setname_np(pthread_self(), thread);
    WriterLoop();
  });
}

void BatchedLog::Stop() {
  if (!writer_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  writer_.join();
}

uint64_t BatchedLog::Commit() {
  if (open_.records == 0 && open_.enqueue_records == 0 && !drop_next_) {
    return 0;
  }
  open_.id = ++last_commit_;
  open_.rotate = rotate_next_;
  open_.drop_old = drop_next_;
  rotate_next_ = drop_next_ = false;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(open_));
  }
  cv_.notify_one();
  open_ = Batch{};
  return last_commit_;
}

void BatchedLog::WriterLoop() {
  std::deque<Batch> batches;  // Taken from queue_, not yet stored.
  std::chrono::milliseconds backoff = retry_min_;
  absl::Status failing;
  std::unique_lock lock(mu_);
  while (true) {
    if (batches.empty()) {
      cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) break;  // Stopping, and everything is stored.
    } else {
      // Stalled: wait, then try again (at once when stopping).
      cv_.wait_for(lock, backoff, [&] { return stopping_; });
    }
    bool stopping = stopping_;
    for (Batch& b : queue_) batches.push_back(std::move(b));
    queue_.clear();
    lock.unlock();
    absl::Status s;
    if (stalled_) {
      // Enqueues arriving are refused like the ones before.
      Withdraw(batches, failing);
      // With nothing left to store, only a probe shows that it works again.
      bool work = std::any_of(batches.begin(), batches.end(), [](auto& b) {
        return b.rotate || !b.data.empty();
      });
      if (!work) s = Probe();
    }
    if (s.ok()) s = WriteBatches(batches);
    if (s.ok()) {
      if (stalled_) {
        if (!Sticky().ok()) {
          // After a failure for good there is no recovery to announce.
          stalled_ = false;
          std::lock_guard guard(mu_);
          stats_.stalled.clear();
          stats_.stalled_since_us = 0;
        } else {
          SetStalled(s);
        }
      }
      backoff = retry_min_;
    } else {
      if (!stalled_) {
        failing = s;
        SetStalled(s);
        Withdraw(batches, s);
      } else {
        backoff = std::min(backoff * 2, retry_max_);
      }
      if (stopping) {
        // Nothing more can be done: what is left is lost, unacknowledged.
        spdlog::error("{}: stopping with {} batches unstored: {}", name_,
                      batches.size(), s.ToString());
        on_commit_(batches.back().id, s);
        batches.clear();
      }
    }
    lock.lock();
  }
}

void BatchedLog::Withdraw(std::deque<Batch>& batches, const absl::Status& why) {
  uint64_t last = 0;
  uint64_t records = 0;
  for (Batch& b : batches) {
    if (b.enqueue_records == 0) continue;
    records += b.enqueue_records;
    b.enqueues.clear();
    b.enqueue_records = 0;
    last = b.id;
  }
  if (last == 0) return;
  {
    std::lock_guard lock(mu_);
    stats_.withdrawn_records += records;
  }
  if (events_.on_withdrawn) events_.on_withdrawn(last, why);
}

void BatchedLog::SetStalled(const absl::Status& s) {
  stalled_ = !s.ok();
  {
    std::lock_guard lock(mu_);
    stats_.stalled = std::string(s.message());
    stats_.stalled_since_us =
        s.ok() ? 0
               : std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  }
  if (s.ok()) {
    spdlog::info("{}: writing again; nothing was lost", name_);
  } else {
    spdlog::error(
        "{}: cannot write ({}); jobqd starts no jobs and refuses changes "
        "until it can, and retries",
        name_, s.ToString());
  }
  if (events_.on_health) events_.on_health(s);
}

void BatchedLog::Stick(absl::Status s) {
  std::lock_guard lock(mu_);
  if (!sticky_.ok()) return;
  spdlog::error("{}", s.ToString());
  sticky_ = s;
  stats_.failure = std::string(s.message());
}

absl::Status BatchedLog::Sticky() const {
  std::lock_guard lock(mu_);
  return sticky_;
}

}  // namespace jobq::store
