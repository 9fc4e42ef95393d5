#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "store/log.h"

namespace jobq::store {

// What Wal and PgLog share: the batches the core commits, the writer
// thread that stores them in order, and what it does while storing fails.
//
// Group commit: the core appends the records of one loop turn (in the
// encoding of the log, in `open_`) and commits them as one batch; the
// writer takes every batch committed since it last looked and hands them to
// WriteBatches, which stores as many as it can from the front and reports
// each through on_commit_.
//
// Stalls: when WriteBatches fails short of the end (and the failure is not
// sticky), the log stalls: it reports the failure once (on_health), gives
// back the withdrawable records of every batch not yet stored
// (on_withdrawn: enqueues, which the core has not applied and can refuse),
// also of every batch committed while stalled, and retries the rest in
// order with backoff, from retry_min up to retry_max; the first success
// reports health again. A sticky failure (Stick) fails every later batch.
// Stop stores what it can, then reports the rest as failed.
//
// Thread: Commit and the snapshot calls by the core thread; Stop by the
// owner; the hooks run on the writer thread.
class BatchedLog : public Log {
 public:
  uint64_t Commit() override;
  uint64_t last_commit() const override { return last_commit_; }
  // The next committed batch starts a new segment or generation.
  void BeginSnapshot() override { rotate_next_ = true; }
  // Once the next committed batch is stored, what came before the current
  // segment or generation is deleted.
  void EndSnapshot() override { drop_next_ = true; }
  // Stores (or reports as failed) every committed batch, then stops.
  void Stop() override;

 protected:
  struct Batch {
    uint64_t id = 0;
    std::string data;      // Records the core has applied.
    std::string enqueues;  // Withdrawable records, stored before `data`.
    uint32_t records = 0;  // In data.
    uint32_t enqueue_records = 0;
    bool rotate = false;    // Starts a new segment or generation.
    bool drop_old = false;  // Once stored, the older ones go.
  };

  // `name` starts the writer's log lines ("write-ahead log").
  BatchedLog(std::string name, std::chrono::milliseconds retry_min,
             std::chrono::milliseconds retry_max)
      : name_(std::move(name)), retry_min_(retry_min), retry_max_(retry_max) {}
  // Starts the writer thread, named `thread`.
  void StartWriter(CommitCallback on_commit, LogEvents events,
                   const char* thread);

  // Writer thread: stores batches from the front, reporting (on_commit_)
  // and removing each stored one, or, after a sticky failure, each failed
  // one. Returns the error that stopped it short, with the batches not
  // stored left in `batches`; OK when none is left.
  virtual absl::Status WriteBatches(std::deque<Batch>& batches) = 0;
  // Writer thread, while stalled with no record to store: whether storing
  // would work now.
  virtual absl::Status Probe() { return absl::OkStatus(); }

  // A failure for good: every later batch fails with `s`.
  void Stick(absl::Status s);
  absl::Status Sticky() const;

  Batch open_;  // Core thread: the batch being appended to.
  CommitCallback on_commit_;
  LogEvents events_;
  bool stalled_ = false;  // Writer thread: storing fails; retrying.

  mutable std::mutex mu_;
  LogStats stats_;       // Guarded by mu_.
  absl::Status sticky_;  // Guarded by mu_; set through Stick.

 private:
  void WriterLoop();
  // Drops the withdrawable records of `batches` and reports them.
  void Withdraw(std::deque<Batch>& batches, const absl::Status& why);
  void SetStalled(const absl::Status& s);

  const std::string name_;
  const std::chrono::milliseconds retry_min_;
  const std::chrono::milliseconds retry_max_;

  // Core thread.
  uint64_t last_commit_ = 0;
  bool rotate_next_ = false;
  bool drop_next_ = false;

  std::condition_variable cv_;
  std::deque<Batch> queue_;  // Guarded by mu_.
  bool stopping_ = false;    // Guarded by mu_.
  std::thread writer_;
};

}  // namespace jobq::store
