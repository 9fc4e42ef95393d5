#include "store/wal.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "store/log_format.h"
#include "store/loss_tracker.h"
#include "tests/unit/store/fault_env.h"
#include "tests/unit/store/log_reports.h"

namespace jobq::store {
namespace {

constexpr char kDir[] = "/data";

// A small record that names itself by `seq`.
wal::v1::Transition T(uint64_t seq) {
  wal::v1::Transition t;
  t.mutable_cancel()->set_seq(seq);
  t.mutable_cancel()->set_at_us(static_cast<int64_t>(seq));
  return t;
}

// The enqueue of job `seq`, and its start.
wal::v1::Transition Enqueue(uint64_t seq) {
  wal::v1::Transition t;
  t.mutable_enqueue()->set_seq(seq);
  t.mutable_enqueue()->mutable_spec()->set_kind("noop");
  return t;
}
wal::v1::Transition Start(uint64_t seq) {
  wal::v1::Transition t;
  t.mutable_start()->set_seq(seq);
  t.mutable_start()->set_attempt(1);
  return t;
}

// The size of a segment holding the records `seqs` (T), from its header on.
size_t SizeOf(const std::vector<uint64_t>& seqs) {
  std::string s = log::SegmentHeader();
  for (uint64_t seq : seqs) {
    log::AppendRecord(&s, log::kTransition, T(seq).SerializeAsString());
  }
  return s.size();
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t i = first; i <= last; ++i) out.push_back(i);
  return out;
}

class WalTest : public ::testing::Test {
 protected:
  std::unique_ptr<Wal> OpenWal(bool sync = true, bool skip_corrupt = false) {
    WalOptions o;
    o.dir = kDir;
    o.env = env_.get();
    o.sync = sync;
    o.skip_corrupt = skip_corrupt;
    auto wal = Wal::Open(o);
    EXPECT_TRUE(wal.ok()) << wal.status();
    return std::move(*wal);
  }
  // Opens, recovers nothing in particular, and starts a log.
  std::unique_ptr<Wal> StartWal(bool sync = true) {
    auto wal = OpenWal(sync);
    EXPECT_TRUE(wal->Recover([](const auto&) {}).ok());
    EXPECT_TRUE(wal->Start(commits_->Callback()).ok());
    return wal;
  }
  // Appends one batch of records and returns its commit status.
  absl::Status Write(Wal& wal, std::vector<uint64_t> seqs) {
    for (uint64_t s : seqs) wal.Append(T(s));
    uint64_t id = wal.Commit();
    return commits_->WaitFor(id);
  }
  // What a fresh process would recover.
  std::vector<uint64_t> Replay(bool skip_corrupt = false,
                               absl::Status* status = nullptr,
                               RecoveryStats* stats = nullptr) {
    auto wal = OpenWal(true, skip_corrupt);
    std::vector<uint64_t> seqs;
    auto r = wal->Recover([&](const wal::v1::Transition& t) {
      seqs.push_back(TransitionSeq(t));
    });
    if (status != nullptr) *status = r.status();
    if (stats != nullptr && r.ok()) *stats = *r;
    return seqs;
  }
  std::string FirstSegment() { return Segment(1); }
  std::string Segment(uint64_t n) {
    return std::string(kDir) + "/" + log::SegmentName(n);
  }
  // Three segments (three starts of the log): 1-100, 101-200, 201-300, each
  // record written as its own batch.
  void WriteThreeSegments() {
    for (uint64_t seg = 0; seg < 3; ++seg) {
      auto wal = StartWal();
      for (uint64_t i = 1; i <= 100; ++i) {
        ASSERT_TRUE(Write(*wal, {seg * 100 + i}).ok());
      }
      wal->Stop();
    }
  }
  size_t FileSize(const std::string& path) {
    std::string d;
    EXPECT_TRUE(env_->ReadFile(path, &d).ok());
    return d.size();
  }

  std::unique_ptr<FaultEnv> env_ = std::make_unique<FaultEnv>();
  std::unique_ptr<Commits> commits_ = std::make_unique<Commits>();
};

// Order, snapshots and stalls common to every log: log_test.cc.

TEST_F(WalTest, EachStartWritesANewSegmentAndRecoveryReadsThemAll) {
  auto wal = StartWal();
  ASSERT_TRUE(Write(*wal, {1}).ok());
  wal->Stop();
  wal.reset();
  wal = StartWal();
  ASSERT_TRUE(Write(*wal, {2}).ok());
  wal->Stop();
  EXPECT_EQ(wal->Stats().segments, 2u);
  EXPECT_EQ(Replay(), (std::vector<uint64_t>{1, 2}));
}

class WalStallTest : public WalTest {
 protected:
  std::unique_ptr<Wal> StartStallingWal() {
    WalOptions o;
    o.dir = kDir;
    o.env = env_.get();
    o.retry_min = std::chrono::milliseconds(1);
    o.retry_max = std::chrono::milliseconds(4);
    auto wal = Wal::Open(o);
    EXPECT_TRUE(wal.ok()) << wal.status();
    EXPECT_TRUE((*wal)->Recover([](const auto&) {}).ok());
    EXPECT_TRUE((*wal)->Start(commits_->Callback(), events_->Events()).ok());
    return std::move(*wal);
  }
  // Appends applied records `seqs` and withdrawable ones `enqueues`.
  uint64_t Commit(Wal& wal, std::vector<uint64_t> seqs,
                  std::vector<uint64_t> enqueues = {}) {
    for (uint64_t s : enqueues) wal.Append(T(s), true);
    for (uint64_t s : seqs) wal.Append(T(s));
    return wal.Commit();
  }
  std::unique_ptr<WriterReports> events_ = std::make_unique<WriterReports>();
};

TEST_F(WalStallTest, NoSpaceStallsTheLogWithoutAHoleUntilSpaceReturns) {
  for (uint64_t step = 0; step < 3; ++step) {
    SCOPED_TRACE(step);
    env_ = std::make_unique<FaultEnv>();
    commits_ = std::make_unique<Commits>();
    events_ = std::make_unique<WriterReports>();
    auto wal = StartStallingWal();
    ASSERT_TRUE(commits_->WaitFor(Commit(*wal, {1})).ok());
    // The disk fills `step` writes from now.
    env_->FailAppendsAfter(static_cast<int>(step));
    uint64_t last = 0;
    for (uint64_t b = 2; b <= 5; ++b) {
      last = Commit(*wal, {b}, {100 + b});
      if (b < 2 + step) {
        ASSERT_TRUE(commits_->WaitFor(last).ok());
      }
    }
    // Failing: reported once, with the disk's error.
    absl::Status health = events_->WaitHealth(1);
    EXPECT_EQ(health.code(), absl::StatusCode::kResourceExhausted) << health;
    EXPECT_FALSE(wal->Stats().stalled.empty());
    // The enqueues of every batch not stored are given back, with the
    // error; the rest of those batches waits to be stored.
    absl::Status why = events_->WaitWithdrawn(last);
    EXPECT_EQ(why.code(), absl::StatusCode::kResourceExhausted) << why;
    EXPECT_GE(wal->Stats().write_failures, 1u);
    env_->Heal();
    EXPECT_TRUE(commits_->WaitFor(last).ok());
    EXPECT_TRUE(events_->WaitHealth(2).ok());
    EXPECT_TRUE(wal->Stats().stalled.empty());
    EXPECT_EQ(wal->Stats().withdrawn_records, 4u - step);
    wal->Stop();
    // Every applied record, in order, once; the enqueues that were stored
    // before the disk filled and none of those given back.
    std::vector<uint64_t> want = {1};
    for (uint64_t b = 2; b < 2 + step; ++b) {
      want.push_back(100 + b);
      want.push_back(b);
    }
    for (uint64_t b = 2 + step; b <= 5; ++b) want.push_back(b);
    EXPECT_EQ(Replay(), want);
  }
}

// A write that fails again, and a stop while stalled: log_test.cc, for
// every log.

TEST_F(WalStallTest, NoSpaceForANewSegmentStallsTheRotationAndRetriesIt) {
  auto wal = StartStallingWal();
  ASSERT_TRUE(commits_->WaitFor(Commit(*wal, {1})).ok());
  env_->FailAppendsAfter(0);
  wal->RotateAtNextCommit();
  uint64_t batch = Commit(*wal, {2});
  ASSERT_EQ(events_->WaitHealth(1).code(),
            absl::StatusCode::kResourceExhausted);
  env_->Heal();
  ASSERT_TRUE(commits_->WaitFor(batch).ok());
  EXPECT_EQ(wal->Stats().segments, 2u);
  wal->Stop();
  EXPECT_EQ(Replay(), (std::vector<uint64_t>{1, 2}));
}

TEST_F(WalTest, AFailedFsyncIsStickyAndNeverRetried) {
  auto wal = StartWal();
  ASSERT_TRUE(Write(*wal, {1}).ok());
  env_->FailSyncs();
  absl::Status s = Write(*wal, {2});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  env_->Heal();
  s = Write(*wal, {3});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("accepts no more writes"), std::string::npos);
  EXPECT_FALSE(wal->Stats().failure.empty());
  wal->Stop();
  // After a power cut, what was acknowledged is there; what was not, is not.
  env_->DropUnsynced();
  EXPECT_EQ(Replay(), std::vector<uint64_t>{1});
}

TEST_F(WalTest, APowerCutKeepsExactlyTheAcknowledgedRecords) {
  auto wal = StartWal();
  for (uint64_t i = 1; i <= 20; ++i) ASSERT_TRUE(Write(*wal, {i}).ok());
  env_->DropUnsynced();
  wal->Stop();
  env_->DropUnsynced();
  std::vector<uint64_t> want;
  for (uint64_t i = 1; i <= 20; ++i) want.push_back(i);
  EXPECT_EQ(Replay(), want);
}

TEST_F(WalTest, WithoutSyncAPowerCutLosesUnsyncedRecords) {
  auto wal = StartWal(/*sync=*/false);
  ASSERT_TRUE(Write(*wal, {1, 2, 3}).ok());
  EXPECT_EQ(wal->Stats().fsyncs, 0u);
  wal->Stop();
  env_->DropUnsynced();
  EXPECT_TRUE(Replay().empty());
}

TEST_F(WalTest, ATornTailIsCutOnRecovery) {
  auto wal = StartWal();
  ASSERT_TRUE(Write(*wal, {1, 2}).ok());
  wal->Stop();
  std::string half;
  log::AppendRecord(&half, log::kTransition, T(3).SerializeAsString());
  half.resize(half.size() - 3);
  size_t good = 0;
  env_->Mutate(FirstSegment(), [&](std::string& d) {
    good = d.size();
    d += half;
  });
  absl::Status status;
  RecoveryStats stats;
  EXPECT_EQ(Replay(false, &status, &stats), (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(stats.torn_bytes, half.size());
  std::string after;
  ASSERT_TRUE(env_->ReadFile(FirstSegment(), &after).ok());
  EXPECT_EQ(after.size(), good);
}

TEST_F(WalTest, ACorruptRecordStopsRecoveryNamingFileAndOffset) {
  auto wal = StartWal();
  ASSERT_TRUE(Write(*wal, {1}).ok());
  ASSERT_TRUE(Write(*wal, {2}).ok());
  ASSERT_TRUE(Write(*wal, {3}).ok());
  wal->Stop();
  wal.reset();
  wal = StartWal();  // A second segment.
  ASSERT_TRUE(Write(*wal, {4}).ok());
  wal->Stop();
  size_t second_record = 0;
  env_->Mutate(FirstSegment(), [&](std::string& d) {
    std::string one = log::SegmentHeader();
    log::AppendRecord(&one, log::kTransition, T(1).SerializeAsString());
    second_record = one.size();
    d[second_record + log::kRecordHeaderSize] ^= 0x55;
  });
  absl::Status status;
  Replay(false, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find(FirstSegment()), std::string::npos) << status;
  EXPECT_NE(status.message().find("offset " + std::to_string(second_record)),
            std::string::npos)
      << status;
  // With skip-corrupt, only the damaged record is skipped.
  RecoveryStats stats;
  EXPECT_EQ(Replay(true, &status, &stats), (std::vector<uint64_t>{1, 3, 4}));
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(stats.skipped_bytes, SizeOf({1, 2}) - SizeOf({1}));
  EXPECT_EQ(stats.skipped_records, 1u);
}

TEST_F(WalTest, ATruncatedOlderSegmentRefusesToStartNamingFileAndOffset) {
  WriteThreeSegments();
  // The first segment loses its last 1,000 bytes: not a torn write, since
  // two newer segments follow it.
  size_t size = FileSize(FirstSegment());
  env_->Mutate(FirstSegment(),
               [](std::string& d) { d.resize(d.size() - 1000); });
  size_t whole = 0;  // Records still whole in it.
  while (SizeOf(Range(1, whole + 1)) <= size - 1000) ++whole;
  absl::Status status;
  Replay(false, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(FirstSegment()), std::string::npos) << status;
  EXPECT_NE(status.message().find("offset " +
                                  std::to_string(SizeOf(Range(1, whole)))),
            std::string::npos)
      << status;
  // Nothing was cut.
  EXPECT_EQ(FileSize(FirstSegment()), size - 1000);
}

TEST_F(WalTest, ATruncatedOlderSegmentIsSkippedAndReportedWithSkipCorrupt) {
  WriteThreeSegments();
  size_t size = FileSize(FirstSegment());
  env_->Mutate(FirstSegment(),
               [](std::string& d) { d.resize(d.size() - 1000); });
  size_t whole = 0;
  while (SizeOf(Range(1, whole + 1)) <= size - 1000) ++whole;
  absl::Status status;
  RecoveryStats stats;
  std::vector<uint64_t> want = Range(1, whole);
  for (uint64_t i = 101; i <= 300; ++i) want.push_back(i);
  EXPECT_EQ(Replay(true, &status, &stats), want);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(stats.skipped.size(), 1u);
  EXPECT_EQ(stats.skipped[0].file, FirstSegment());
  EXPECT_EQ(stats.skipped[0].offset, SizeOf(Range(1, whole)));
  EXPECT_EQ(stats.skipped_bytes, size - 1000 - SizeOf(Range(1, whole)));
  EXPECT_EQ(stats.skipped[0].seq_before, whole);
  EXPECT_EQ(stats.skipped[0].seq_after, 101u);
  EXPECT_EQ(stats.torn_bytes, 0u);
}

TEST_F(WalTest, GarbageInTheMiddleOfAnOlderSegmentRefusesToStart) {
  WriteThreeSegments();
  const size_t at = SizeOf(Range(101, 150)) + 3;
  env_->Mutate(Segment(2), [&](std::string& d) {
    for (size_t i = 0; i < 64; ++i) d[at + i] = static_cast<char>(0xc3 + i);
  });
  absl::Status status;
  Replay(false, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(Segment(2)), std::string::npos) << status;
  EXPECT_NE(status.message().find("offset " +
                                  std::to_string(SizeOf(Range(101, 150)))),
            std::string::npos)
      << status;
}

TEST_F(WalTest, SkipCorruptKeepsEveryRecordAfterGarbageInTheMiddle) {
  WriteThreeSegments();
  const size_t at = SizeOf(Range(101, 150)) + 3;
  env_->Mutate(Segment(2), [&](std::string& d) {
    for (size_t i = 0; i < 64; ++i) d[at + i] = static_cast<char>(0xc3 + i);
  });
  // The records the 64 bytes touch are lost; every other one is kept.
  std::vector<uint64_t> want;
  for (uint64_t i = 1; i <= 300; ++i) {
    bool touched = i > 100 && i <= 200 && SizeOf(Range(101, i)) > at &&
                   SizeOf(Range(101, i - 1)) < at + 64;
    if (!touched) want.push_back(i);
  }
  absl::Status status;
  RecoveryStats stats;
  std::vector<uint64_t> got = Replay(true, &status, &stats);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(got, want);
  EXPECT_GE(got.size(), 295u) << "64 bytes hit at most 5 small records";
  ASSERT_EQ(stats.skipped.size(), 1u);
  EXPECT_EQ(stats.skipped[0].seq_before, 150u);
  EXPECT_EQ(stats.skipped[0].seq_after, want[150]);
}

TEST_F(WalTest, GarbageInTheMiddleOfTheNewestSegmentIsNotATornTail) {
  WriteThreeSegments();
  // A damaged length in the newest segment reads like a record running past
  // the end of the file; the good records after it say otherwise.
  const size_t at = SizeOf(Range(201, 250));
  env_->Mutate(Segment(3), [&](std::string& d) { d[at + 2] = 0x10; });
  size_t size = FileSize(Segment(3));
  absl::Status status;
  Replay(false, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(Segment(3)), std::string::npos) << status;
  EXPECT_NE(status.message().find("offset " + std::to_string(at)),
            std::string::npos)
      << status;
  EXPECT_EQ(FileSize(Segment(3)), size) << "the newest segment was cut";
  RecoveryStats stats;
  EXPECT_EQ(Replay(true, &status, &stats).size(), 299u);
  EXPECT_EQ(stats.torn_bytes, 0u);
}

TEST_F(WalTest, ATornTailOfTheNewestSegmentIsStillCutWithOlderSegmentsWhole) {
  WriteThreeSegments();
  std::string half;
  log::AppendRecord(&half, log::kTransition, T(301).SerializeAsString());
  half.resize(half.size() - 2);
  size_t good = FileSize(Segment(3));
  env_->Mutate(Segment(3), [&](std::string& d) { d += half; });
  absl::Status status;
  RecoveryStats stats;
  EXPECT_EQ(Replay(false, &status, &stats), Range(1, 300));
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(stats.torn_bytes, half.size());
  EXPECT_EQ(FileSize(Segment(3)), good);
}

TEST_F(WalTest, AnEmptyNewestSegmentIsACrashRightAfterCreatingIt) {
  WriteThreeSegments();
  env_->Mutate(Segment(4), [](std::string& d) { d.clear(); });
  absl::Status status;
  EXPECT_EQ(Replay(false, &status), Range(1, 300));
  EXPECT_TRUE(status.ok()) << status;
  // Recovery removed it: the next start does not leave it behind as an
  // older, empty segment.
  std::string gone;
  EXPECT_FALSE(env_->ReadFile(Segment(4), &gone).ok());
  auto wal = StartWal();
  ASSERT_TRUE(Write(*wal, {301}).ok());
  wal->Stop();
  EXPECT_EQ(Replay(false, &status), Range(1, 301));
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(WalTest, AnOlderSegmentEmptiedRefusesToStartOrIsSkipped) {
  WriteThreeSegments();
  env_->Mutate(Segment(2), [](std::string& d) { d.clear(); });
  absl::Status status;
  Replay(false, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(Segment(2)), std::string::npos) << status;
  std::vector<uint64_t> want = Range(1, 100);
  for (uint64_t s : Range(201, 300)) want.push_back(s);
  EXPECT_EQ(Replay(true, &status), want);
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(WalTest, ADamagedHeaderInAnOlderSegmentRefusesOrIsSkippedAlone) {
  WriteThreeSegments();
  env_->Mutate(Segment(2), [](std::string& d) { d[1] = 'X'; });
  absl::Status status;
  Replay(false, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(Segment(2)), std::string::npos) << status;
  EXPECT_NE(status.message().find("offset 0"), std::string::npos) << status;
  // Skipping passes over the header alone: its records are intact.
  RecoveryStats stats;
  EXPECT_EQ(Replay(true, &status, &stats), Range(1, 300));
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(stats.skipped_bytes, log::kSegmentHeaderSize);
  EXPECT_EQ(stats.skipped_records, 0u);
}

TEST_F(WalTest, ASegmentMissingFromTheMiddleRefusesToStart) {
  WriteThreeSegments();
  ASSERT_TRUE(env_->RemoveFile(Segment(2)).ok());
  absl::Status status;
  Replay(false, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(Segment(2)), std::string::npos) << status;
  RecoveryStats stats;
  std::vector<uint64_t> want = Range(1, 100);
  for (uint64_t i = 201; i <= 300; ++i) want.push_back(i);
  EXPECT_EQ(Replay(true, &status, &stats), want);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(stats.missing_segments, std::vector<uint64_t>{2});
}

TEST_F(WalTest, CompactionThatCannotRemoveASegmentKeepsTheNewerOnesToo) {
  // Compaction removes oldest first and stops at a failure, so the
  // segments left are consecutive and recovery finds no gap.
  WriteThreeSegments();
  auto wal = StartWal();  // Segment 4.
  ASSERT_TRUE(Write(*wal, {301}).ok());
  env_->FailRemove(Segment(2));
  wal->RotateAtNextCommit();
  ASSERT_TRUE(Write(*wal, {302}).ok());
  wal->DropOldSegmentsAtNextCommit();
  ASSERT_TRUE(Write(*wal, {303}).ok());
  wal->Stop();
  env_->Heal();
  std::vector<std::string> left;
  for (uint64_t n = 1; n <= 5; ++n) {
    std::string d;
    if (env_->ReadFile(Segment(n), &d).ok())
      left.push_back(log::SegmentName(n));
  }
  EXPECT_EQ(left, (std::vector<std::string>{
                      log::SegmentName(2), log::SegmentName(3),
                      log::SegmentName(4), log::SegmentName(5)}));
  absl::Status status;
  Replay(false, &status);
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(WalTest, SkipCorruptNamesTheJobsThatLaterRecordsReferTo) {
  auto wal = StartWal();
  for (uint64_t seq = 1; seq <= 10; ++seq) {
    wal->Append(Enqueue(seq));
    ASSERT_TRUE(commits_->WaitFor(wal->Commit()).ok());
  }
  wal->Stop();
  wal.reset();
  wal = StartWal();
  for (uint64_t seq = 1; seq <= 10; ++seq) {
    wal->Append(Start(seq));
    ASSERT_TRUE(commits_->WaitFor(wal->Commit()).ok());
  }
  wal->Stop();
  // The enqueues of jobs 4 and 5 are damaged.
  std::string seg = log::SegmentHeader();
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    log::AppendRecord(&seg, log::kTransition, Enqueue(seq).SerializeAsString());
  }
  env_->Mutate(FirstSegment(), [&](std::string& d) {
    for (size_t i = 0; i < 40; ++i) d[seg.size() + i] = 'Z';
  });
  auto reopened = OpenWal(true, /*skip_corrupt=*/true);
  auto stats = reopened->Recover([](const auto&) {});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->lost_jobs, (std::vector<uint64_t>{4, 5}));
  EXPECT_GE(stats->skipped_records, 1u);
  // The stats of the log carry them too.
  EXPECT_EQ(reopened->Stats().recovery.lost_jobs,
            (std::vector<uint64_t>{4, 5}));
}

TEST_F(WalTest, ASegmentOfAnotherFormatVersionStopsRecoveryEvenWhenSkipping) {
  auto wal = StartWal();
  ASSERT_TRUE(Write(*wal, {1}).ok());
  wal->Stop();
  env_->Mutate(FirstSegment(), [](std::string& d) { d[8] = 9; });
  for (bool skip : {false, true}) {
    absl::Status status;
    Replay(skip, &status);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << skip;
    EXPECT_NE(status.message().find("version 9"), std::string::npos) << status;
  }
}

TEST_F(WalTest, RotationAndDropLeaveOnlyTheNewSegment) {
  auto wal = StartWal();
  ASSERT_TRUE(Write(*wal, {1}).ok());
  wal->RotateAtNextCommit();
  ASSERT_TRUE(Write(*wal, {2}).ok());
  EXPECT_EQ(wal->Stats().segments, 2u);
  wal->DropOldSegmentsAtNextCommit();
  ASSERT_TRUE(Write(*wal, {3}).ok());
  EXPECT_EQ(wal->Stats().segments, 1u);
  wal->Stop();
  EXPECT_EQ(Replay(), (std::vector<uint64_t>{2, 3}));
}

TEST(WalLockTest, ASecondOpenOfTheSameDirectoryIsRefused) {
  std::string dir = ::testing::TempDir() + "/jobq_wal_lock_test";
  std::filesystem::remove_all(dir);
  WalOptions o;
  o.dir = dir;
  auto first = Wal::Open(o);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Wal::Open(o);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("another jobqd"), std::string::npos);
  first->reset();
  EXPECT_TRUE(Wal::Open(o).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace jobq::store
