#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

// The on-disk format of the write-ahead log; docs/wal-format.md describes it.
namespace jobq::store::log {

// A segment starts with a 16-byte header: the magic, the format version
// (little-endian uint32) and 4 reserved zero bytes.
inline constexpr char kMagic[8] = {'j', 'o', 'b', 'q', 'w', 'a', 'l', '\n'};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 16;

// Each record: length (uint32, of the body), masked CRC-32C of type and
// body (uint32), type (uint8), body. Little-endian.
inline constexpr size_t kRecordHeaderSize = 9;
inline constexpr uint32_t kMaxRecordBody = 64u << 20;

enum RecordType : uint8_t {
  // Reserved: a zero-filled (preallocated or never written) region.
  kZeroType = 0,
  // A serialised jobq.wal.v1.Transition.
  kTransition = 1,
};

std::string SegmentHeader();
// Appends one record to `out`.
void AppendRecord(std::string* out, RecordType type, absl::string_view body);

// "wal-0000000000000007.log" for segment 7.
std::string SegmentName(uint64_t number);
// False if `name` is not a segment file name.
bool ParseSegmentName(absl::string_view name, uint64_t* number);

}  // namespace jobq::store::log
