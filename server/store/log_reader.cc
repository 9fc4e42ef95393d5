#include "store/log_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "store/crc32c.h"

namespace jobq::store {
namespace {

uint32_t GetFixed32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | (static_cast<uint32_t>(u[1]) << 8) |
         (static_cast<uint32_t>(u[2]) << 16) |
         (static_cast<uint32_t>(u[3]) << 24);
}

bool AllZero(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

}  // namespace

absl::Status LogReader::ReadHeader() {
  if (data_.empty()) {
    torn_ = false;
    pos_ = valid_end_ = 0;
    return absl::OkStatus();
  }
  if (data_.size() < log::kSegmentHeaderSize) {
    // Created, and the crash came while its header was being written: the
    // whole file is the torn part.
    torn_ = true;
    pos_ = data_.size();
    valid_end_ = 0;
    return absl::OkStatus();
  }
  if (std::memcmp(data_.data(), log::kMagic, sizeof log::kMagic) != 0) {
    return absl::DataLossError("not a jobq log segment (bad magic)");
  }
  uint32_t version = GetFixed32(data_.data() + 8);
  if (version != log::kVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "log format version ", version, " is not supported (this jobqd reads ",
        log::kVersion, ")"));
  }
  pos_ = valid_end_ = log::kSegmentHeaderSize;
  return absl::OkStatus();
}

LogReader::Result LogReader::Next(log::RecordType* type,
                                  absl::string_view* body) {
  if (pos_ >= data_.size()) return kEnd;
  absl::string_view rest = data_.substr(pos_);
  if (rest.size() < log::kRecordHeaderSize) {
    torn_ = true;
    return kEnd;
  }
  uint32_t length = GetFixed32(rest.data());
  uint32_t masked = GetFixed32(rest.data() + 4);
  if (length == 0 && masked == 0 && AllZero(rest)) {
    // Zero-filled tail: space that was never written.
    torn_ = true;
    return kEnd;
  }
  if (log::kRecordHeaderSize + static_cast<uint64_t>(length) > rest.size()) {
    // Runs past the end: a record cut short by the crash.
    torn_ = true;
    return kEnd;
  }
  if (length > log::kMaxRecordBody) {
    status_ = absl::DataLossError(
        absl::StrCat("impossible record length ", length, " at offset ", pos_));
    return kCorrupt;
  }
  absl::string_view typed = rest.substr(8, 1 + length);
  uint32_t crc = crc32c::Value(typed.data(), typed.size());
  if (crc != crc32c::Unmask(masked)) {
    if (log::kRecordHeaderSize + length == rest.size()) {
      // The last record of the file, half written.
      torn_ = true;
      return kEnd;
    }
    status_ = absl::DataLossError(
        absl::StrCat("checksum mismatch in the record at offset ", pos_));
    return kCorrupt;
  }
  *type = static_cast<log::RecordType>(static_cast<uint8_t>(typed[0]));
  *body = typed.substr(1);
  pos_ += log::kRecordHeaderSize + length;
  valid_end_ = pos_;
  return kRecord;
}

}  // namespace jobq::store
