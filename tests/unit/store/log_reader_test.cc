#include "store/log_reader.h"

#include <gtest/gtest.h>

#include <cstdio>
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

TEST(LogReaderTest, ABitFlipInTheLastRecordIsCorruptionNotATornWrite) {
  std::string s = Segment({"aaaa", "bbbb"});
  size_t last = Segment({"aaaa"}).size();
  s[s.size() - 1] ^= 0x01;
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result end;
  EXPECT_EQ(ReadAll(r, &end), std::vector<std::string>{"aaaa"});
  EXPECT_EQ(end, LogReader::kCorrupt);
  EXPECT_FALSE(r.torn());
  EXPECT_NE(r.status().message().find("offset " + std::to_string(last)),
            std::string::npos)
      << r.status();
}

TEST(LogReaderTest, ALastRecordWhoseLastPageWasNeverWrittenIsATornWrite) {
  // The last record spans a page boundary; the page after it reads as zeros
  // (the kernel never wrote it back), though the file size covers it.
  std::string s = Segment({"aaaa"});
  size_t end = s.size();
  log::AppendRecord(&s, log::kTransition, std::string(6000, 'x'));
  for (size_t i = 4096; i < s.size(); ++i) s[i] = 0;
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  EXPECT_EQ(ReadAll(r, &last), std::vector<std::string>{"aaaa"});
  EXPECT_EQ(last, LogReader::kEnd);
  EXPECT_TRUE(r.torn());
  EXPECT_EQ(r.valid_end(), end);
}

TEST(LogReaderTest, ADamagedLengthBeforeGoodRecordsIsCorruptionNotATornTail) {
  std::string s = Segment({"aaaa", "bbbb", "cccc", "dddd"});
  size_t second = Segment({"aaaa"}).size();
  // A length that runs past the end of the file, as a torn record's would.
  s[second + 2] = 0x7f;
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  EXPECT_EQ(ReadAll(r, &last), std::vector<std::string>{"aaaa"});
  EXPECT_EQ(last, LogReader::kCorrupt);
  EXPECT_FALSE(r.torn());
  EXPECT_NE(r.status().message().find("offset " + std::to_string(second)),
            std::string::npos)
      << r.status();
}

TEST(LogReaderTest, SkipResynchronisesAtTheNextGoodRecord) {
  std::vector<std::string> bodies;
  for (int i = 0; i < 20; ++i) bodies.push_back("record " + std::to_string(i));
  std::string s = Segment(bodies);
  // 64 garbage bytes from the middle of record 5 into record 8 or so.
  size_t at = Segment({bodies.begin(), bodies.begin() + 5}).size() + 4;
  for (size_t i = 0; i < 64; ++i) s[at + i] = static_cast<char>(0xa5 ^ i);
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  std::vector<std::string> got = ReadAll(r, &last);
  ASSERT_EQ(last, LogReader::kCorrupt);
  LogReader::Skipped skipped = r.Skip();
  auto more = ReadAll(r, &last);
  EXPECT_EQ(last, LogReader::kEnd);
  EXPECT_FALSE(r.torn());
  got.insert(got.end(), more.begin(), more.end());
  // Records 0-4 before the damage, and every record after its last byte.
  size_t first_after = 0;
  while (Segment({bodies.begin(), bodies.begin() + first_after}).size() <
         at + 64) {
    ++first_after;
  }
  std::vector<std::string> want(bodies.begin(), bodies.begin() + 5);
  want.insert(want.end(), bodies.begin() + first_after, bodies.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(skipped.offset, at - 4);
  EXPECT_EQ(skipped.offset + skipped.bytes,
            Segment({bodies.begin(), bodies.begin() + first_after}).size());
  EXPECT_GE(skipped.records, 1u);
}

TEST(LogReaderTest, SkipCountsTheRecordsOfADamagedStretchWhenLengthsHold) {
  std::string s = Segment({"aaaa", "bbbb", "cccc", "dddd"});
  size_t second = Segment({"aaaa"}).size();
  // The bodies of "bbbb" and "cccc" are damaged, their lengths are not.
  s[second + log::kRecordHeaderSize] ^= 1;
  s[second + log::kRecordHeaderSize + 4 + log::kRecordHeaderSize] ^= 1;
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  ReadAll(r, &last);
  ASSERT_EQ(last, LogReader::kCorrupt);
  LogReader::Skipped skipped = r.Skip();
  EXPECT_EQ(skipped.records, 2u);
  EXPECT_EQ(ReadAll(r, &last), std::vector<std::string>{"dddd"});
}

TEST(LogReaderTest, ADamagedHeaderCanBeSkippedToTheRecords) {
  std::string s = Segment({"aaaa", "bbbb"});
  s[0] = 'X';
  LogReader r(s);
  absl::Status st = r.ReadHeader();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("offset 0"), std::string::npos) << st;
  LogReader::Skipped skipped = r.Skip();
  EXPECT_EQ(skipped.bytes, log::kSegmentHeaderSize);
  EXPECT_EQ(skipped.records, 0u);
  LogReader::Result last;
  EXPECT_EQ(ReadAll(r, &last), (std::vector<std::string>{"aaaa", "bbbb"}));
}

TEST(LogReaderTest, ResynchronisingOverLargeGarbageDoesBoundedWork) {
  // Every offset of this garbage passes the cheap checks (type byte 1, a
  // length of 16 MiB that fits in the file): without a budget the scan
  // would checksum 16 MiB at each of millions of offsets.
  std::string s = Segment({"aaaa"});
  size_t garbage = s.size();
  s.append(18 << 20, '\x01');
  log::AppendRecord(&s, log::kTransition, "after");
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  EXPECT_EQ(ReadAll(r, &last), std::vector<std::string>{"aaaa"});
  ASSERT_EQ(last, LogReader::kCorrupt);
  EXPECT_LE(r.checksummed_bytes(), 8 * s.size() + (1 << 20));
  EXPECT_NE(r.status().message().find("budget"), std::string::npos)
      << r.status();
  LogReader::Skipped skipped = r.Skip();
  EXPECT_EQ(skipped.offset, garbage);
  EXPECT_EQ(skipped.offset + skipped.bytes, s.size());
  std::printf("resync over %zu bytes of garbage checksummed %llu bytes\n",
              s.size(), static_cast<unsigned long long>(r.checksummed_bytes()));
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
  // A record header claiming 1 MiB with only a few bytes after it.
  std::string rec(log::kRecordHeaderSize, '\0');
  uint32_t len = 1u << 20;
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

TEST(LogReaderTest, ALengthNoWriterCouldWriteIsCorruptionEvenAtTheEnd) {
  std::string s = Segment({"aaaa"});
  std::string rec(log::kRecordHeaderSize, '\0');
  uint32_t len = log::kMaxRecordBody + 1;
  std::memcpy(rec.data(), &len, 4);
  rec[8] = 1;
  s += rec + "zzzz";
  LogReader r(s);
  ASSERT_TRUE(r.ReadHeader().ok());
  LogReader::Result last;
  EXPECT_EQ(ReadAll(r, &last), std::vector<std::string>{"aaaa"});
  EXPECT_EQ(last, LogReader::kCorrupt);
  EXPECT_NE(r.status().message().find("impossible record length"),
            std::string::npos)
      << r.status();
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
