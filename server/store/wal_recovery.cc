// Recovery of the write-ahead log: replaying every segment, oldest first,
// strictly or skipping damage (docs/wal-format.md, "Reading: recovery").
// The writer half of Wal is in wal.cc.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "store/log_format.h"
#include "store/log_reader.h"
#include "store/loss_tracker.h"
#include "store/wal.h"

namespace jobq::store {
namespace {

constexpr char kSkipHint[] =
    "; start with --recover=skip-corrupt to pass over the damaged records "
    "(see docs/operations.md, Recovery)";
// Missing segment numbers listed in the stats, at most.
constexpr size_t kMaxMissingListed = 1000;

// Records each skipped stretch, and dates it with the jobs around it.
class SkipLog {
 public:
  explicit SkipLog(RecoveryStats* stats) : stats_(stats) {}
  void Skipped(const std::string& path, const LogReader::Skipped& s,
               const std::string& why) {
    SkippedRegion r;
    r.file = path;
    r.offset = s.offset;
    r.bytes = s.bytes;
    r.records = s.records;
    r.seq_before = last_seq_;
    spdlog::warn(
        "recovery: {}: {}; skipping {} bytes from offset {} (at least {} "
        "records)",
        path, why, s.bytes, s.offset, s.records);
    stats_->skipped_bytes += s.bytes;
    stats_->skipped_records += s.records;
    stats_->skipped.push_back(std::move(r));
    waiting_ = true;
  }
  // A readable record of job `seq` (0: of no job).
  void Read(uint64_t seq) {
    if (seq == 0) return;
    last_seq_ = seq;
    if (!waiting_) return;
    for (auto it = stats_->skipped.rbegin();
         it != stats_->skipped.rend() && it->seq_after == 0; ++it) {
      it->seq_after = seq;
    }
    waiting_ = false;
  }

 private:
  RecoveryStats* stats_;
  uint64_t last_seq_ = 0;
  bool waiting_ = false;
};

}  // namespace

absl::StatusOr<RecoveryStats> Wal::Recover(
    const std::function<void(const wal::v1::Transition&)>& apply) {
  auto names = env_->ListDir(options_.dir);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> numbers;
  for (const auto& name : *names) {
    uint64_t n;
    if (log::ParseSegmentName(name, &n)) numbers.push_back(n);
  }
  std::sort(numbers.begin(), numbers.end());
  RecoveryStats stats;
  SkipLog skips(&stats);
  LossTracker losses;
  std::string data;
  wal::v1::Transition t;
  for (size_t i = 0; i < numbers.size(); ++i) {
    const uint64_t n = numbers[i];
    const std::string path = PathOf(n);
    // A torn tail is a crash while appending, and only the newest segment
    // was being appended to: an older one was whole and synced before its
    // successor was created. Without sync, a power cut may lose the end of
    // any segment.
    const bool may_tear = i + 1 == numbers.size() || !options_.sync;
    if (i > 0 && n != numbers[i - 1] + 1) {
      // Compaction deletes the segments before the current one oldest
      // first and stops at the first it cannot delete, so what remains is
      // always a run of consecutive numbers.
      const uint64_t first = numbers[i - 1] + 1;
      const uint64_t last = n - 1;
      std::string missing =
          first == last
              ? PathOf(first)
              : absl::StrCat(PathOf(first), " to ", log::SegmentName(last));
      std::string what =
          absl::StrCat(missing,
                       " missing: the segments before and after it exist, and "
                       "compaction never leaves a gap");
      if (!options_.skip_corrupt) {
        return absl::DataLossError(absl::StrCat(what, kSkipHint));
      }
      spdlog::warn("recovery: {}; going on without", what);
      for (uint64_t k = first;
           k <= last && stats.missing_segments.size() < kMaxMissingListed;
           ++k) {
        stats.missing_segments.push_back(k);
      }
      losses.Damage();
    }
    if (auto s = env_->ReadFile(path, &data); !s.ok()) return s;
    const std::string header = log::SegmentHeader();
    if (data.size() < header.size() &&
        header.compare(0, data.size(), data) == 0) {
      // No whole header: a crash while the segment was being created, so
      // it holds nothing. Only the newest can be so; an older one was
      // created, synced and written to before its successor existed.
      if (i + 1 == numbers.size()) {
        spdlog::warn(
            "recovery: {}: {} bytes, a segment whose creation a "
            "crash cut short; removing it",
            path, data.size());
        if (auto s = env_->RemoveFile(path); !s.ok()) return s;
        if (auto s = env_->SyncDir(options_.dir); !s.ok()) return s;
        continue;
      }
      if (options_.sync) {
        std::string what = absl::StrCat(
            path, ": ", data.size(),
            " bytes, without a whole header, but newer segments follow: "
            "its contents were lost");
        if (!options_.skip_corrupt) {
          return absl::DataLossError(absl::StrCat(what, kSkipHint));
        }
        spdlog::warn("recovery: {}; going on without", what);
        losses.Damage();
      }
    }
    ++stats.segments;
    stats.bytes += data.size();
    uint64_t kept = data.size();
    LogReader reader(data);
    if (absl::Status header = reader.ReadHeader(); !header.ok()) {
      // A format this jobqd does not know is never skipped: that would lose
      // good data. Only a damaged header may be.
      if (!options_.skip_corrupt || !absl::IsDataLoss(header)) {
        return absl::Status(
            header.code(),
            absl::StrCat(path, ": ", header.message(),
                         absl::IsDataLoss(header) ? kSkipHint : ""));
      }
      skips.Skipped(path, reader.Skip(), std::string(header.message()));
      losses.Damage();
    }
    log::RecordType type;
    absl::string_view body;
    while (true) {
      LogReader::Result r = reader.Next(&type, &body);
      if (r == LogReader::kRecord) {
        if (type == log::kTransition &&
            t.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
          losses.Saw(t);
          apply(t);
          ++stats.records;
          skips.Read(TransitionSeq(t));
          continue;
        }
        // Whole and checksummed, yet not a transition: damage all the same,
        // but the framing holds, so only this record is passed over.
        LogReader::Skipped one;
        one.records = 1;
        one.bytes = log::kRecordHeaderSize + body.size();
        one.offset = reader.valid_end() - one.bytes;
        std::string what =
            absl::StrCat("undecodable record (type ", static_cast<int>(type),
                         ") at offset ", one.offset);
        if (!options_.skip_corrupt) {
          return absl::DataLossError(absl::StrCat(path, ": ", what, kSkipHint));
        }
        skips.Skipped(path, one, what);
        losses.Damage();
        continue;
      }
      if (r == LogReader::kEnd && !reader.torn()) break;
      if (r == LogReader::kEnd && may_tear) {
        uint64_t cut = data.size() - reader.valid_end();
        spdlog::warn("recovery: {}: torn write at offset {}; cutting {} bytes",
                     path, reader.valid_end(), cut);
        if (auto s = env_->TruncateFile(path, reader.valid_end()); !s.ok()) {
          return s;
        }
        stats.torn_bytes += cut;
        kept = reader.valid_end();
        break;
      }
      std::string what =
          r == LogReader::kCorrupt
              ? std::string(reader.status().message())
              : absl::StrCat(
                    "cut short at offset ", reader.valid_end(), " (",
                    data.size() - reader.valid_end(),
                    " bytes of a partial record), but newer segments follow: "
                    "its end was lost, not torn by a crash");
      if (!options_.skip_corrupt) {
        return absl::DataLossError(absl::StrCat(path, ": ", what, kSkipHint));
      }
      skips.Skipped(path, reader.Skip(), what);
      losses.Damage();
    }
    std::lock_guard lock(mu_);
    SetSegmentSize(n, kept);
    segment_ = std::max(segment_, n);
  }
  stats.lost_jobs = losses.Lost();
  std::lock_guard lock(mu_);
  stats_.recovery = stats;
  return stats;
}

}  // namespace jobq::store
