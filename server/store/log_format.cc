#include "store/log_format.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/numbers.h"
#include "store/crc32c.h"

namespace jobq::store::log {
namespace {

void PutFixed32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8),
               static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
  out->append(b, 4);
}

}  // namespace

std::string SegmentHeader() {
  std::string h(kMagic, sizeof kMagic);
  PutFixed32(&h, kVersion);
  PutFixed32(&h, 0);
  return h;
}

void AppendRecord(std::string* out, RecordType type, absl::string_view body) {
  char t = static_cast<char>(type);
  uint32_t crc = crc32c::Value(&t, 1);
  crc = crc32c::Extend(crc, body.data(), body.size());
  PutFixed32(out, static_cast<uint32_t>(body.size()));
  PutFixed32(out, crc32c::Mask(crc));
  out->push_back(t);
  out->append(body.data(), body.size());
}

std::string SegmentName(uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "wal-%016llx.log",
                static_cast<unsigned long long>(number));
  return buf;
}

bool ParseSegmentName(absl::string_view name, uint64_t* number) {
  if (name.size() != 24 || name.substr(0, 4) != "wal-" ||
      name.substr(20) != ".log") {
    return false;
  }
  return absl::SimpleHexAtoi(name.substr(4, 16), number);
}

}  // namespace jobq::store::log
