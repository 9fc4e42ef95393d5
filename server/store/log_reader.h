#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "store/log_format.h"

namespace jobq::store {

// Reads the records of one segment held in memory.
//
// Torn tail versus corruption. A crash while a record was being appended
// leaves a torn tail: bytes from the start of the last record to the end of
// the file that are the prefix of what was being written. Next() reports it
// as kEnd with torn() set and valid_end() at the start of that record; the
// caller decides whether it may be cut (only at the end of the newest
// segment). The rest of the file is torn when no whole record follows the
// bad offset and it is
//   - a record header cut short (fewer than 9 bytes), or
//   - a header whose plausible length runs past the end of the file, or
//   - zero bytes only (space that was never written, or preallocated), or
//   - a record reaching exactly to the end whose checksum fails and whose
//     last page (from a 4 KiB boundary on) reads as zeros: a page the
//     kernel never wrote back.
// Anything else that is not a whole record with a matching checksum is
// corruption: kCorrupt, with the offset and reason in status(). A bad
// record followed by a good one is always corruption, never a torn tail.
//
// Resynchronisation (--recover=skip-corrupt): after kCorrupt, or after a
// torn kEnd the caller will not accept, Skip() moves to the next offset at
// which a whole record of a known type starts and its checksum holds (found
// byte by byte, as LevelDB's reader resynchronises), or to the end of the
// data, and says what it passed over. Next() then goes on from there. The
// scan checksums candidate records only after cheap checks (type byte,
// length within the file) and stops checksumming after a budget of eight
// times the segment's size, so garbage of any shape costs linear time; a
// scan that ran out of budget treats the rest of the segment as damaged.
//
// Thread: one owner; `data` must outlive the reader.
class LogReader {
 public:
  enum Result { kRecord, kEnd, kCorrupt };

  // What Skip() passed over.
  struct Skipped {
    uint64_t offset = 0;  // Where the damage starts.
    uint64_t bytes = 0;
    // Records in those bytes: exact when the length fields of the damaged
    // stretch still lead from record to record up to where reading goes on,
    // otherwise 1 (at least the record at `offset` was lost).
    uint64_t records = 0;
  };

  explicit LogReader(absl::string_view data);

  // Checks magic and version. FAILED_PRECONDITION for a newer version,
  // DATA_LOSS for a header that is damaged (after which Skip() may go on to
  // the first whole record). An empty segment (a crash right after creating
  // it) reads as having no records; a header cut short or zero-filled reads
  // as a segment that is torn from offset 0.
  [[nodiscard]] absl::Status ReadHeader();

  Result Next(log::RecordType* type, absl::string_view* body);

  // Only after kCorrupt, a torn kEnd, or a DATA_LOSS from ReadHeader().
  Skipped Skip();

  bool torn() const { return torn_; }
  // The end of the last good record (or of the header).
  uint64_t valid_end() const { return valid_end_; }
  const absl::Status& status() const { return status_; }
  // Bytes the resynchronising scan has checksummed so far.
  uint64_t checksummed_bytes() const { return checksummed_; }

 private:
  // The record at `at` is not whole and good: torn tail or corruption.
  Result Damaged(uint64_t at, absl::string_view what);
  // The first offset >= `from` where a good record starts, or the size of
  // the data (also when the budget runs out; then gave_up_ is set).
  uint64_t FindRecord(uint64_t from);
  bool GoodRecordAt(uint64_t at);
  bool TornShape(uint64_t at) const;
  // Records chained by their length fields from `from` to exactly `to`, or 1.
  uint64_t CountChain(uint64_t from, uint64_t to) const;

  absl::string_view data_;
  uint64_t pos_ = 0;
  uint64_t valid_end_ = 0;
  bool torn_ = false;
  absl::Status status_;
  // The damage Skip() passes over: [damaged_at_, resume_at_).
  uint64_t damaged_at_ = 0;
  uint64_t resume_at_ = 0;
  uint64_t chain_from_ = 0;
  bool skippable_ = false;
  // Bytes the resynchronising scan may still checksum.
  uint64_t scan_budget_ = 0;
  uint64_t checksummed_ = 0;
  bool gave_up_ = false;
};

}  // namespace jobq::store
