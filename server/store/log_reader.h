#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "store/log_format.h"

namespace jobq::store {

// Reads the records of one segment held in memory.
//
// A segment may end in a torn write: a record cut short, or zero bytes where
// a record was about to be written. Next() reports that as kEnd with
// torn() set and the offset of the last whole record in valid_end(); the
// caller decides whether it may be cut (only in the newest segment).
// A record that fails its checksum and is followed by further data is
// corruption: kCorrupt, with the offset and reason in status().
// Thread: one owner; `data` must outlive the reader.
class LogReader {
 public:
  enum Result { kRecord, kEnd, kCorrupt };

  explicit LogReader(absl::string_view data) : data_(data) {}

  // Checks magic and version. FAILED_PRECONDITION for a newer version,
  // DATA_LOSS for a file that is not a segment. An empty segment (a crash
  // right after creating it) reads as having no records.
  [[nodiscard]] absl::Status ReadHeader();

  Result Next(log::RecordType* type, absl::string_view* body);

  bool torn() const { return torn_; }
  // The end of the last good record (or of the header).
  uint64_t valid_end() const { return valid_end_; }
  const absl::Status& status() const { return status_; }

 private:
  absl::string_view data_;
  uint64_t pos_ = 0;
  uint64_t valid_end_ = 0;
  bool torn_ = false;
  absl::Status status_;
};

}  // namespace jobq::store
