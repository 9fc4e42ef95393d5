#include "store/wal.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>

#include "store/log_format.h"
#include "tests/unit/store/fault_env.h"

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

// Collects commit reports; tests wait on the report itself.
class Commits {
 public:
  CommitCallback Callback() {
    return [this](uint64_t batch, absl::Status s) {
      std::lock_guard lock(mu_);
      for (uint64_t b = last_ + 1; b <= batch; ++b) status_[b] = s;
      last_ = std::max(last_, batch);
      cv_.notify_all();
    };
  }
  absl::Status WaitFor(uint64_t batch) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20),
                 [&] { return last_ >= batch; });
    auto it = status_.find(batch);
    return it == status_.end() ? absl::DeadlineExceededError("no report")
                               : it->second;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, absl::Status> status_;
  uint64_t last_ = 0;
};

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
      seqs.push_back(t.cancel().seq());
    });
    if (status != nullptr) *status = r.status();
    if (stats != nullptr && r.ok()) *stats = *r;
    return seqs;
  }
  std::string FirstSegment() {
    return std::string(kDir) + "/" + log::SegmentName(1);
  }

  std::unique_ptr<FaultEnv> env_ = std::make_unique<FaultEnv>();
  std::unique_ptr<Commits> commits_ = std::make_unique<Commits>();
};

TEST_F(WalTest, RecoveryReplaysEveryCommittedRecordInOrder) {
  auto wal = StartWal();
  ASSERT_TRUE(Write(*wal, {1, 2}).ok());
  ASSERT_TRUE(Write(*wal, {3}).ok());
  ASSERT_TRUE(Write(*wal, {4, 5, 6}).ok());
  EXPECT_EQ(wal->Stats().records_written, 6u);
  EXPECT_GE(wal->Stats().fsyncs, 1u);
  wal->Stop();
  EXPECT_EQ(Replay(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
}

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

TEST_F(WalTest, NoSpaceAtEachStepFailsThatBatchAloneAndKeepsTheRest) {
  for (int step = 0; step < 4; ++step) {
    SCOPED_TRACE(step);
    env_ = std::make_unique<FaultEnv>();
    commits_ = std::make_unique<Commits>();
    auto wal = StartWal();
    std::vector<uint64_t> stored;
    env_->FailAppendsAfter(step);
    for (uint64_t b = 1; b <= 4; ++b) {
      absl::Status s = Write(*wal, {b * 10, b * 10 + 1});
      if (b == static_cast<uint64_t>(step) + 1) {
        EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
        EXPECT_NE(s.message().find("not stored"), std::string::npos);
        env_->Heal();
      } else {
        ASSERT_TRUE(s.ok()) << s;
        stored.push_back(b * 10);
        stored.push_back(b * 10 + 1);
      }
    }
    wal->Stop();
    // The half-written batch was cut back: the log reads clean.
    EXPECT_EQ(Replay(), stored);
  }
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
  // With skip-corrupt, the rest of that segment is skipped, not the others.
  RecoveryStats stats;
  EXPECT_EQ(Replay(true, &status, &stats), (std::vector<uint64_t>{1, 4}));
  EXPECT_TRUE(status.ok());
  EXPECT_GT(stats.skipped_bytes, 0u);
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
