#include "store/wal.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "store/log_format.h"

namespace jobq::store {

absl::StatusOr<std::unique_ptr<Wal>> Wal::Open(WalOptions options) {
  std::unique_ptr<Wal> wal(new Wal(std::move(options)));
  wal->env_ = wal->options_.env != nullptr ? wal->options_.env : Env::Posix();
  if (auto s = wal->env_->CreateDir(wal->options_.dir); !s.ok()) return s;
  auto lock = wal->env_->LockFile(wal->options_.dir + "/LOCK");
  if (!lock.ok()) return lock.status();
  wal->lock_ = std::move(*lock);
  wal->stats_.dir = wal->options_.dir;
  wal->stats_.sync = wal->options_.sync;
  return wal;
}

Wal::~Wal() { Stop(); }

std::string Wal::PathOf(uint64_t segment) const {
  return options_.dir + "/" + log::SegmentName(segment);
}

absl::Status Wal::Start(CommitCallback on_commit, WalEvents events) {
  if (auto s = OpenSegment(); !s.ok()) return s;
  StartWriter(std::move(on_commit), std::move(events), "jobq-wal");
  return absl::OkStatus();
}

absl::Status Wal::OpenSegment() {
  uint64_t number = segment_ + 1;
  const std::string path = PathOf(number);
  auto file = env_->NewWritableFile(path);
  if (!file.ok()) return file.status();
  absl::Status s = (*file)->Append(log::SegmentHeader());
  if (!s.ok()) {
    // No space for the header: no segment yet. Gone, it cannot be
    // mistaken for a damaged one; the rotation is tried again.
    file->reset();
    (void)env_->RemoveFile(path);
    return s;
  }
  s = (*file)->Sync();
  // The new file's directory entry must be durable before records in it are
  // acknowledged.
  if (s.ok()) s = env_->SyncDir(options_.dir);
  if (!s.ok()) {
    Stick(absl::UnavailableError(absl::StrCat(
        "write-ahead log: ", s.message(), "; the log accepts no more writes")));
    return s;
  }
  file_ = std::move(*file);
  segment_ = number;
  std::lock_guard lock(mu_);
  SetSegmentSize(number, file_->size());
  return absl::OkStatus();
}

void Wal::Append(const wal::v1::Transition& t, bool withdrawable) {
  scratch_.clear();
  t.AppendToString(&scratch_);
  if (withdrawable) {
    log::AppendRecord(&open_.enqueues, log::kTransition, scratch_);
    ++open_.enqueue_records;
  } else {
    log::AppendRecord(&open_.data, log::kTransition, scratch_);
    ++open_.records;
  }
}

absl::Status Wal::Probe() {
  uint64_t before = file_->size();
  absl::Status s = file_->Append(std::string(4096, '\0'));
  if (absl::Status t = file_->Truncate(before); !t.ok()) {
    Stick(absl::UnavailableError(
        absl::StrCat("write-ahead log: cannot undo a probe write (",
                     t.message(), "); the log accepts no more writes")));
    std::lock_guard lock(mu_);
    return sticky_;
  }
  return s;
}

absl::Status Wal::WriteBatches(std::deque<Batch>& batches) {
  std::string group;
  while (!batches.empty()) {
    absl::Status s;
    if (batches.front().rotate) {
      s = OpenSegment();
      if (!s.ok()) {
        {
          std::lock_guard lock(mu_);
          if (sticky_.ok()) {
            ++stats_.write_failures;
            return s;  // Tried again later.
          }
          s = sticky_;
        }
      } else {
        batches.front().rotate = false;
      }
    }
    // The group: this batch and the following ones up to the next rotation.
    size_t j = 1;
    while (j < batches.size() && !batches[j].rotate) ++j;
    group.clear();
    uint32_t records = 0;
    bool drop = false;
    for (size_t k = 0; k < j; ++k) {
      group += batches[k].enqueues;
      group += batches[k].data;
      records += batches[k].records + batches[k].enqueue_records;
      drop = drop || batches[k].drop_old;
    }
    if (s.ok()) s = WriteGroup(group, records);
    bool sticky;
    {
      std::lock_guard lock(mu_);
      sticky = !sticky_.ok();
      if (!s.ok() && !sticky) ++stats_.write_failures;
    }
    if (!s.ok() && !sticky) return s;  // Undone; tried again later.
    if (s.ok() && drop) DropOldSegments();
    on_commit_(batches[j - 1].id, s);
    batches.erase(batches.begin(), batches.begin() + static_cast<long>(j));
  }
  return absl::OkStatus();
}

absl::Status Wal::WriteGroup(const std::string& data, uint32_t records) {
  {
    std::lock_guard lock(mu_);
    if (!sticky_.ok()) return sticky_;
  }
  if (data.empty()) return absl::OkStatus();
  uint64_t before = file_->size();
  absl::Status s = file_->Append(data);
  if (!s.ok()) {
    // Undo the partial write so that the next record starts clean.
    if (absl::Status t = file_->Truncate(before); !t.ok()) {
      Stick(absl::UnavailableError(
          absl::StrCat("write-ahead log: cannot undo a failed write (",
                       t.message(), "); the log accepts no more writes")));
    }
    return absl::Status(s.code(), absl::StrCat("write-ahead log: ", s.message(),
                                               "; the change was not stored"));
  }
  int64_t fsync_us = -1;
  if (options_.sync) {
    auto t0 = std::chrono::steady_clock::now();
    s = file_->Sync();
    fsync_us = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now() - t0)
                   .count();
    if (!s.ok()) {
      // Never retried: after a failed fsync the kernel may have dropped the
      // dirty pages, so a later success would prove nothing.
      Stick(absl::UnavailableError(
          absl::StrCat("write-ahead log: ", s.message(),
                       "; the log accepts no more writes")));
      std::lock_guard lock(mu_);
      return sticky_;
    }
  }
  std::lock_guard lock(mu_);
  SetSegmentSize(segment_, file_->size());
  stats_.records_written += records;
  ++stats_.batches_written;
  stats_.group_records.Record(records);
  if (fsync_us >= 0) {
    ++stats_.fsyncs;
    stats_.fsync_us.Record(fsync_us);
  }
  return absl::OkStatus();
}

void Wal::DropOldSegments() {
  std::vector<uint64_t> old;
  {
    std::lock_guard lock(mu_);
    for (const auto& [n, size] : segments_) {
      if (n < segment_) old.push_back(n);
    }
  }
  // Oldest first, stopping at the first failure: what remains is always a
  // run of consecutive segment numbers, so recovery can tell a segment
  // missing from the middle for the loss it is.
  for (uint64_t n : old) {
    absl::Status s = env_->RemoveFile(PathOf(n));
    if (!s.ok() && !absl::IsNotFound(s)) {
      spdlog::warn("compaction: cannot remove {}: {}; keeping it and newer",
                   PathOf(n), std::string(s.message()));
      break;
    }
    std::lock_guard lock(mu_);
    SetSegmentSize(n, 0);
    segments_.erase(n);
  }
  (void)env_->SyncDir(options_.dir);
}

void Wal::SetSegmentSize(uint64_t segment, uint64_t bytes) {
  uint64_t& size = segments_[segment];
  log_bytes_.fetch_add(bytes - size);  // Wraps correctly when shrinking.
  size = bytes;
}

WalStats Wal::Stats() const {
  std::lock_guard lock(mu_);
  WalStats s = stats_;
  s.segments = segments_.size();
  s.log_bytes = log_bytes_.load();
  return s;
}

}  // namespace jobq::store
