#include "store/log_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "store/crc32c.h"

namespace jobq::store {
namespace {

// A page the kernel did not write back reads as zeros from a page boundary.
constexpr uint64_t kPageSize = 4096;
// The resynchronising scan checksums at most this many times the segment's
// size (plus a floor), whatever the garbage looks like.
constexpr uint64_t kScanBudgetFactor = 8;
constexpr uint64_t kScanBudgetFloor = 1 << 20;

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

LogReader::LogReader(absl::string_view data)
    : data_(data),
      scan_budget_(kScanBudgetFactor * data.size() + kScanBudgetFloor) {}

absl::Status LogReader::ReadHeader() {
  if (data_.empty()) {
    torn_ = false;
    pos_ = valid_end_ = 0;
    return absl::OkStatus();
  }
  if (data_.size() < log::kSegmentHeaderSize || AllZero(data_)) {
    // Created, and the crash came while its header was being written (or
    // before its space was): the whole file is the torn part.
    torn_ = true;
    pos_ = data_.size();
    valid_end_ = 0;
    damaged_at_ = 0;
    chain_from_ = resume_at_ = data_.size();
    skippable_ = true;
    return absl::OkStatus();
  }
  if (std::memcmp(data_.data(), log::kMagic, sizeof log::kMagic) != 0) {
    // The records may be intact behind a damaged header.
    damaged_at_ = 0;
    chain_from_ = log::kSegmentHeaderSize;
    resume_at_ = FindRecord(log::kSegmentHeaderSize);
    skippable_ = true;
    pos_ = valid_end_ = log::kSegmentHeaderSize;
    status_ =
        absl::DataLossError("not a jobq log segment (bad magic) at offset 0");
    return status_;
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
    return Damaged(pos_, "a record header cut short");
  }
  uint32_t length = GetFixed32(rest.data());
  if (length > log::kMaxRecordBody) {
    return Damaged(pos_, absl::StrCat("impossible record length ", length));
  }
  if (log::kRecordHeaderSize + static_cast<uint64_t>(length) > rest.size()) {
    return Damaged(pos_, absl::StrCat("a record of ", length,
                                      " bytes running past the end"));
  }
  absl::string_view typed = rest.substr(8, 1 + length);
  uint32_t crc = crc32c::Value(typed.data(), typed.size());
  if (crc != crc32c::Unmask(GetFixed32(rest.data() + 4))) {
    return Damaged(pos_, "checksum mismatch in the record");
  }
  *type = static_cast<log::RecordType>(static_cast<uint8_t>(typed[0]));
  *body = typed.substr(1);
  pos_ += log::kRecordHeaderSize + length;
  valid_end_ = pos_;
  return kRecord;
}

LogReader::Result LogReader::Damaged(uint64_t at, absl::string_view what) {
  damaged_at_ = chain_from_ = at;
  skippable_ = true;
  pos_ = data_.size();  // Nothing more until Skip().
  if (AllZero(data_.substr(at))) {
    // No record can start in zeros (type 0 is reserved): never written.
    torn_ = true;
    resume_at_ = data_.size();
    return kEnd;
  }
  resume_at_ = FindRecord(at + 1);
  if (resume_at_ == data_.size() && !gave_up_ && TornShape(at)) {
    torn_ = true;
    return kEnd;
  }
  std::string followed =
      resume_at_ < data_.size()
          ? absl::StrCat("; the next whole record starts at offset ",
                         resume_at_)
          : (gave_up_ ? std::string("; no whole record found after it "
                                    "(scan budget spent)")
                      : std::string("; no whole record follows it"));
  status_ =
      absl::DataLossError(absl::StrCat(what, " at offset ", at, followed));
  return kCorrupt;
}

bool LogReader::GoodRecordAt(uint64_t at) {
  const uint64_t size = data_.size();
  if (at + log::kRecordHeaderSize > size) return false;
  const char* p = data_.data() + at;
  // Cheap checks first: a known type and a length that fits.
  if (static_cast<uint8_t>(p[8]) != log::kTransition) return false;
  uint64_t length = GetFixed32(p);
  if (length > log::kMaxRecordBody ||
      length > size - at - log::kRecordHeaderSize) {
    return false;
  }
  if (scan_budget_ < length + 1) {
    gave_up_ = true;
    return false;
  }
  scan_budget_ -= length + 1;
  checksummed_ += length + 1;
  return crc32c::Value(p + 8, length + 1) == crc32c::Unmask(GetFixed32(p + 4));
}

uint64_t LogReader::FindRecord(uint64_t from) {
  const uint64_t size = data_.size();
  for (uint64_t at = from; at + log::kRecordHeaderSize <= size; ++at) {
    if (GoodRecordAt(at)) return at;
    if (gave_up_) break;
  }
  return size;
}

bool LogReader::TornShape(uint64_t at) const {
  absl::string_view rest = data_.substr(at);
  if (rest.size() < log::kRecordHeaderSize) return true;
  uint64_t length = GetFixed32(rest.data());
  if (length > log::kMaxRecordBody) return false;
  if (log::kRecordHeaderSize + length > rest.size()) return true;
  if (log::kRecordHeaderSize + length < rest.size()) return false;
  // The last record, whole in size but failing its checksum: torn only if
  // its end is a page that was never written (zeros from a page boundary
  // that lies inside the record).
  uint64_t zeros_from = data_.size();
  while (zeros_from > at && data_[zeros_from - 1] == 0) --zeros_from;
  uint64_t boundary =
      (std::max(zeros_from, at + 1) + kPageSize - 1) / kPageSize * kPageSize;
  return boundary < data_.size();
}

uint64_t LogReader::CountChain(uint64_t from, uint64_t to) const {
  uint64_t at = from;
  uint64_t n = 0;
  while (at < to && at + log::kRecordHeaderSize <= to) {
    uint64_t length = GetFixed32(data_.data() + at);
    if (length > to - at - log::kRecordHeaderSize) break;
    if (length == 0 && GetFixed32(data_.data() + at + 4) == 0) break;  // Zeros.
    at += log::kRecordHeaderSize + length;
    ++n;
  }
  return at == to && n > 0 ? n : 1;
}

LogReader::Skipped LogReader::Skip() {
  Skipped s;
  if (!skippable_) return s;
  s.offset = damaged_at_;
  s.bytes = resume_at_ - damaged_at_;
  s.records =
      chain_from_ < resume_at_ ? CountChain(chain_from_, resume_at_) : 0;
  pos_ = resume_at_;
  torn_ = false;
  skippable_ = false;
  status_ = absl::OkStatus();
  return s;
}

}  // namespace jobq::store
