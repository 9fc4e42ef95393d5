#include "store/log_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "store/crc32c.h"
#include "store/log_format.h"

namespace jobq::store {
namespace {

std::string Segment(const std::vector<std::string>& bodies) {
  std::string s = log::SegmentHeader();
  for (const auto& b : bodies) log::AppendRecord(&s, log::kTransition, b);
  return s;
}

// Reads every record; returns their bodies and the final result.
std::vector<std::string> ReadAll(LogReader& r, LogReader::Result* last) {
  std::vector<std::string> out;
  log::RecordType type;
  absl::string_view body;
  while ((*last = r.Next(&type, &body)) == LogReader::kRecord) {
    out.emplace_back(body);
  }
  return out;
}

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32c::Value("123456789", 9), 0xe3069283u);
  EXPECT_EQ(crc32c::Extend(crc32c::Value("1234", 4), "56789", 5), 0xe3069283u);
  EXPECT_EQ(crc32c::Unmask(crc32c::Mask(0x12345678u)), 0x12345678u);
  EXPECT_NE(crc32c::Mask(0x12345678u), 0x12345678u);
}

TEST(LogReaderTest, RecordsComeBackInOrder) {
  std::string s = Segment({"one", "", "three"});
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  EXPECT_EQ(ReadAll(r, &last), (std::vector<std::string>{"one", "", "three"}));
  EXPECT_EQ(last, LogReader::kEnd);
  EXPECT_FALSE(r.torn());
  EXPECT_EQ(r.valid_end(), s.size());
}

TEST(LogReaderTest, TruncatedTrailingRecordIsIgnored) {
  std::string whole = Segment({"first", "second record"});
  size_t first_end = Segment({"first"}).size();
  for (size_t cut = first_end + 1; cut < whole.size(); ++cut) {
    std::string s = whole.substr(0, cut);
    LogReader r(s);
    ASSERT_TRUE(r.ReadHeader().ok());
    LogReader::Result last;
    EXPECT_EQ(ReadAll(r, &last), std::vector<std::string>{"first"}) << cut;
    EXPECT_EQ(last, LogReader::kEnd);
    EXPECT_TRUE(r.torn());
    EXPECT_EQ(r.valid_end(), first_end);
  }
}

TEST(LogReaderTest, BadChecksumBeforeTheEndIsReportedWithItsOffset) {
  std::string s = Segment({"aaaa", "bbbb", "cccc"});
  size_t second = Segment({"aaaa"}).size();
  s[second + log::kRecordHeaderSize + 1] ^= 0x40;  // A body byte of "bbbb".
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  EXPECT_EQ(ReadAll(r, &last), std::vector<std::string>{"aaaa"});
  EXPECT_EQ(last, LogReader::kCorrupt);
  EXPECT_NE(r.status().message().find("offset " + std::to_string(second)),
            std::string::npos)
      << r.status();
}

TEST(LogReaderTest, BadChecksumInTheLastRecordIsATornWrite) {
  std::string s = Segment({"aaaa", "bbbb"});
  s[s.size() - 1] ^= 0x01;
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  EXPECT_EQ(ReadAll(r, &last), std::vector<std::string>{"aaaa"});
  EXPECT_EQ(last, LogReader::kEnd);
  EXPECT_TRUE(r.torn());
}

TEST(LogReaderTest, ZeroFilledTailIsIgnored) {
  std::string s = Segment({"aaaa"});
  size_t end = s.size();
  s.append(4096, '\0');
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  EXPECT_EQ(ReadAll(r, &last), std::vector<std::string>{"aaaa"});
  EXPECT_EQ(last, LogReader::kEnd);
  EXPECT_TRUE(r.torn());
  EXPECT_EQ(r.valid_end(), end);
}

TEST(LogReaderTest, RecordLargerThanABufferIsRead) {
  std::string big(3 << 20, 'x');
  big[12345] = 'y';
  std::string s = Segment({"small", big, "after"});
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  auto records = ReadAll(r, &last);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1], big);
  EXPECT_EQ(records[2], "after");
}

TEST(LogReaderTest, AnotherFormatVersionIsRefused) {
  std::string s = Segment({"a"});
  s[8] = 2;  // Version 2.
  LogReader r(s);
  absl::Status st = r.ReadHeader();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("version 2"), std::string::npos);
}

TEST(LogReaderTest, AFileThatIsNotASegmentIsRefused) {
  std::string s = "hello, this is not a log at all";
  LogReader r(s);
  EXPECT_EQ(r.ReadHeader().code(), absl::StatusCode::kDataLoss);
}

TEST(LogReaderTest, EmptySegmentHasNoRecords) {
  for (std::string s : {std::string(), log::SegmentHeader()}) {
    LogReader r(s);
    ASSERT_TRUE(r.ReadHeader().ok());
    LogReader::Result last;
    EXPECT_TRUE(ReadAll(r, &last).empty());
    EXPECT_EQ(last, LogReader::kEnd);
    EXPECT_FALSE(r.torn());
  }
}

TEST(LogReaderTest, AHalfWrittenHeaderIsATornSegmentCutToNothing) {
  std::string s = log::SegmentHeader().substr(0, 5);
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  EXPECT_TRUE(ReadAll(r, &last).empty());
  EXPECT_TRUE(r.torn());
  EXPECT_EQ(r.valid_end(), 0u);
}

TEST(LogReaderTest, ALengthRunningPastTheEndIsATornTail) {
  std::string s = Segment({"aaaa"});
  size_t end = s.size();
  // A record header claiming 100 MiB with only a few bytes after it.
  std::string rec(log::kRecordHeaderSize, '\0');
  uint32_t len = 100u << 20;
  std::memcpy(rec.data(), &len, 4);
  rec[4] = 1;
  s += rec + "zzzz";
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  EXPECT_EQ(ReadAll(r, &last), std::vector<std::string>{"aaaa"});
  EXPECT_EQ(last, LogReader::kEnd);
  EXPECT_TRUE(r.torn());
  EXPECT_EQ(r.valid_end(), end);
}

TEST(LogFormatTest, SegmentNamesSortAndParse) {
  EXPECT_EQ(log::SegmentName(7), "wal-0000000000000007.log");
  uint64_t n = 0;
  EXPECT_TRUE(log::ParseSegmentName("wal-00000000000000ff.log", &n));
  EXPECT_EQ(n, 255u);
  EXPECT_FALSE(log::ParseSegmentName("LOCK", &n));
  EXPECT_FALSE(log::ParseSegmentName("wal-xyz.log", &n));
}

}  // namespace
}  // namespace jobq::store
