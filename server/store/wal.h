#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/histogram.h"
#include "jobq/wal/v1/transition.pb.h"
#include "store/batched_log.h"
#include "store/env.h"
#include "store/log.h"

namespace jobq::store {

struct WalOptions {
  std::string dir;
  // fdatasync after every group of batches (--sync=fsync); false acknowledges
  // after write(2) (--sync=none).
  bool sync = true;
  // Recovery passes over damaged records and goes on with the next good one
  // instead of refusing to start (--recover=skip-corrupt).
  bool skip_corrupt = false;
  Env* env = nullptr;  // Null: the POSIX file system.
  // While writes fail (a full disk), the writer tries again after this long,
  // doubling up to `retry_max`.
  std::chrono::milliseconds retry_min{10};
  std::chrono::milliseconds retry_max{1000};
};

// The write-ahead log of the core's transitions: a directory of segment
// files (docs/wal-format.md) and a writer thread.
//
// Group commit: the core appends the records of one loop turn and commits
// them as one batch; the writer takes every batch committed since its last
// write and stores them with one write(2) and one fdatasync, then reports.
//
// The log never has a hole: batches are stored whole and in order, or not
// at all. A failed write (ENOSPC, EIO on write) is undone (the file is cut
// back) and the log stalls: it reports the failure once (on_health), gives
// back the withdrawable records of every batch not yet stored
// (on_withdrawn: enqueues, which the core has not applied and can refuse),
// and retries the rest, in order, with backoff, until a write succeeds;
// then it reports health again and the batches as durable. Records that the
// core has already applied (a start, a finish, a cancel) are never dropped
// while jobqd runs. A failed fdatasync is sticky: the state of the page
// cache is then unknown, so the log refuses every later batch (it never
// retries an fsync).
//
// Thread: Open, Recover, Start, Stop by the owner; Append, Commit and the
// segment controls by the core thread only; Stats from any thread.
class Wal final : public BatchedLog {
 public:
  // Creates the directory if needed and locks it (FAILED_PRECONDITION when
  // another jobqd holds it).
  static absl::StatusOr<std::unique_ptr<Wal>> Open(WalOptions options);
  ~Wal() override;

  // Before Start: replays every record of every segment, oldest first.
  // Only the newest segment may end in a torn tail (LogReader), which is cut;
  // so may every segment with sync off, where a power cut loses unsynced
  // writes anywhere. Anything else (a damaged record anywhere, a torn tail
  // or damaged header in an older segment, a segment number missing from
  // the sequence) stops recovery with DATA_LOSS naming the file and offset,
  // unless skip_corrupt: then the damaged bytes are passed over, the
  // reading goes on at the next good record, and the stats say what was
  // dropped. Files are only ever cut at a torn tail, never at damage.
  absl::StatusOr<RecoveryStats> Recover(
      const std::function<void(const wal::v1::Transition&)>& apply) override;

  // Opens a fresh segment and starts the writer thread.
  [[nodiscard]] absl::Status Start(CommitCallback on_commit,
                                   LogEvents events = {}) override;

  // Core thread. A withdrawable record (an enqueue not yet applied) may be
  // dropped if its batch cannot be written; see on_withdrawn.
  void Append(const wal::v1::Transition& t, bool withdrawable = false) override;
  // A snapshot is a new segment (BeginSnapshot); once the batch after it
  // is durable the segments before it go (EndSnapshot).
  // The next committed batch goes to a new segment.
  void RotateAtNextCommit() { BeginSnapshot(); }
  // Once the next committed batch is durable, the segments before the
  // current one are deleted.
  void DropOldSegmentsAtNextCommit() { EndSnapshot(); }

  // The bytes in all segments. Thread: any; read every core turn, so kept
  // in an atomic rather than summed under the lock.
  uint64_t log_bytes() const override { return log_bytes_.load(); }
  WalStats Stats() const override;

 private:
  explicit Wal(WalOptions options)
      : BatchedLog("write-ahead log", options.retry_min, options.retry_max),
        options_(std::move(options)) {}
  std::string PathOf(uint64_t segment) const;
  absl::Status OpenSegment();
  absl::Status WriteBatches(std::deque<Batch>& batches) override;
  absl::Status WriteGroup(const std::string& data, uint32_t records);
  // While stalled with nothing to write: whether a write would succeed now
  // (appends a block of zeros and cuts it off again).
  absl::Status Probe() override;
  void DropOldSegments();
  // With mu_ held: records a segment's size and the new total.
  void SetSegmentSize(uint64_t segment, uint64_t bytes);

  WalOptions options_;
  Env* env_ = nullptr;
  std::unique_ptr<FileLock> lock_;

  // Core thread.
  std::string scratch_;

  // Writer thread (and Start before it runs).
  std::unique_ptr<WritableFile> file_;
  uint64_t segment_ = 0;  // The current segment number.

  std::map<uint64_t, uint64_t> segments_;  // Number -> bytes. Guarded by mu_.
  std::atomic<uint64_t> log_bytes_{0};     // Sum of segments_.
};

}  // namespace jobq::store
