// What every store::Log promises, run over each of them: the file
// write-ahead log (Wal, on a fault-injecting file layer) and the log in
// PostgreSQL (PgLog, on a throwaway cluster, a schema per test).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "store/pg_log.h"
#include "store/wal.h"
#include "tests/testing/pg_cluster.h"
#include "tests/unit/store/fault_env.h"
#include "tests/unit/store/log_reports.h"

namespace jobq::store {
namespace {

using namespace std::chrono_literals;

// A small record that names itself by `seq`.
wal::v1::Transition T(uint64_t seq) {
  wal::v1::Transition t;
  t.mutable_cancel()->set_seq(seq);
  t.mutable_cancel()->set_at_us(static_cast<int64_t>(seq));
  return t;
}

// Where the records live, and how to make writing fail there.
class Backend {
 public:
  virtual ~Backend() = default;
  // A log as a new process would open it (null, with a test failure, if
  // it cannot be).
  virtual std::unique_ptr<Log> Open() = 0;
  // Writing starts failing (a full disk; the database server stopped),
  // and works again.
  virtual void Break() = 0;
  virtual void Heal() = 0;
  // The code of the failure that Break causes.
  virtual absl::StatusCode failure() const = 0;
};

class WalBackend : public Backend {
 public:
  std::unique_ptr<Log> Open() override {
    WalOptions o;
    o.dir = "/data";
    o.env = &env_;
    o.retry_min = 1ms;
    o.retry_max = 4ms;
    auto wal = Wal::Open(o);
    EXPECT_TRUE(wal.ok()) << wal.status();
    return wal.ok() ? std::move(*wal) : nullptr;
  }
  void Break() override { env_.FailAppendsAfter(0); }
  void Heal() override { env_.Heal(); }
  absl::StatusCode failure() const override {
    return absl::StatusCode::kResourceExhausted;
  }

 private:
  FaultEnv env_;
};

class PgBackend : public Backend {
 public:
  PgBackend() : cluster_(testing::PgCluster::Get()) {}
  std::unique_ptr<Log> Open() override {
    if (cluster_ == nullptr) return nullptr;
    PgLogOptions o;
    o.conninfo = cluster_->conninfo();
    o.schema = schema_;
    o.holder = "log_test";
    o.retry_min = 1ms;
    o.retry_max = 20ms;
    auto log = PgLog::Open(o);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? std::move(*log) : nullptr;
  }
  void Break() override { ASSERT_TRUE(cluster_->Stop()); }
  void Heal() override { ASSERT_TRUE(cluster_->Start()); }
  absl::StatusCode failure() const override {
    return absl::StatusCode::kUnavailable;
  }

 private:
  testing::PgCluster* cluster_;
  std::string schema_ = testing::SchemaForTest();
};

class LogTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "wal") {
      backend_ = std::make_unique<WalBackend>();
    } else {
      backend_ = std::make_unique<PgBackend>();
    }
  }
  // Opens, recovers, and starts a log.
  std::unique_ptr<Log> StartLog() {
    auto log = backend_->Open();
    if (log == nullptr) return nullptr;
    EXPECT_TRUE(log->Recover([](const auto&) {}).ok());
    EXPECT_TRUE(log->Start(commits_->Callback(), reports_->Events()).ok());
    return log;
  }
  // Appends applied records `seqs` and withdrawable ones `enqueues`, and
  // commits them as one batch.
  uint64_t Commit(Log& log, std::vector<uint64_t> seqs,
                  std::vector<uint64_t> enqueues = {}) {
    for (uint64_t s : enqueues) log.Append(T(s), true);
    for (uint64_t s : seqs) log.Append(T(s));
    return log.Commit();
  }
  absl::Status Write(Log& log, std::vector<uint64_t> seqs) {
    return commits_->WaitFor(Commit(log, std::move(seqs)));
  }
  // What a fresh process would recover.
  std::vector<uint64_t> Replay() {
    auto log = backend_->Open();
    std::vector<uint64_t> seqs;
    if (log == nullptr) return seqs;
    auto r = log->Recover([&](const wal::v1::Transition& t) {
      seqs.push_back(t.cancel().seq());
    });
    EXPECT_TRUE(r.ok()) << r.status();
    return seqs;
  }

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Commits> commits_ = std::make_unique<Commits>();
  std::unique_ptr<WriterReports> reports_ = std::make_unique<WriterReports>();
};

TEST_P(LogTest, RecoveryReplaysEveryCommittedRecordInOrder) {
  auto log = StartLog();
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(Write(*log, {1, 2}).ok());
  ASSERT_TRUE(Write(*log, {3}).ok());
  ASSERT_TRUE(Write(*log, {4, 5, 6}).ok());
  EXPECT_EQ(log->Stats().records_written, 6u);
  EXPECT_GE(log->Stats().fsyncs, 1u);
  EXPECT_GT(log->log_bytes(), 0u);
  log->Stop();
  log.reset();
  EXPECT_EQ(Replay(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
  // A second run appends after the first's records.
  commits_ = std::make_unique<Commits>();
  log = StartLog();
  ASSERT_TRUE(Write(*log, {7}).ok());
  log->Stop();
  log.reset();
  EXPECT_EQ(Replay(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7}));
}

TEST_P(LogTest, ASnapshotReplacesTheOlderRecordsOnceTheBatchAfterItIsStored) {
  auto log = StartLog();
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(Write(*log, {1, 2, 3, 4, 5, 6, 7, 8}).ok());
  const uint64_t before = log->log_bytes();
  log->BeginSnapshot();
  ASSERT_TRUE(Write(*log, {10, 11}).ok());  // The snapshot.
  EXPECT_GT(log->log_bytes(), before);
  log->EndSnapshot();
  ASSERT_TRUE(Write(*log, {12}).ok());
  // The older records go once that batch is stored (PgLog deletes them
  // just after reporting it).
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (log->Stats().segments > 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(log->Stats().segments, 1u);
  EXPECT_LT(log->log_bytes(), before);
  log->Stop();
  log.reset();
  EXPECT_EQ(Replay(), (std::vector<uint64_t>{10, 11, 12}));
}

TEST_P(LogTest, AStopBeforeTheSnapshotEndsKeepsTheOlderRecords) {
  auto log = StartLog();
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(Write(*log, {1, 2}).ok());
  log->BeginSnapshot();
  ASSERT_TRUE(Write(*log, {10}).ok());
  log->Stop();
  log.reset();
  EXPECT_EQ(Replay(), (std::vector<uint64_t>{1, 2, 10}));
}

TEST_P(LogTest, FailingWritesStallTheLogWithoutAHoleUntilTheyWorkAgain) {
  auto log = StartLog();
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(Write(*log, {1}).ok());
  backend_->Break();
  uint64_t batch = Commit(*log, {7}, {8});
  // Reported once, with the error; the enqueues are given back.
  absl::Status health = reports_->WaitHealth(1);
  EXPECT_EQ(health.code(), backend_->failure()) << health;
  EXPECT_EQ(reports_->WaitWithdrawn(batch).code(), backend_->failure());
  EXPECT_FALSE(log->Stats().stalled.empty());
  // Enqueues committed while stalled are given back too, and nothing is
  // reported stored while writes keep failing.
  uint64_t later = Commit(*log, {9}, {10});
  EXPECT_EQ(reports_->WaitWithdrawn(later).code(), backend_->failure());
  uint64_t failures = log->Stats().write_failures;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (log->Stats().write_failures < failures + 3 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_GE(log->Stats().write_failures, failures + 3);
  EXPECT_EQ(reports_->health_reports(), 1u);
  EXPECT_EQ(commits_->last(), 1u);
  backend_->Heal();
  EXPECT_TRUE(commits_->WaitFor(later).ok());
  EXPECT_TRUE(reports_->WaitHealth(2).ok());
  EXPECT_TRUE(log->Stats().stalled.empty());
  EXPECT_EQ(log->Stats().withdrawn_records, 2u);
  log->Stop();
  log.reset();
  EXPECT_EQ(Replay(), (std::vector<uint64_t>{1, 7, 9}));
}

TEST_P(LogTest, StoppingWhileStalledReportsWhatWasNotStoredAsFailed) {
  auto log = StartLog();
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(Write(*log, {1}).ok());
  backend_->Break();
  uint64_t batch = Commit(*log, {2});
  ASSERT_EQ(reports_->WaitHealth(1).code(), backend_->failure());
  log->Stop();
  EXPECT_EQ(commits_->WaitFor(batch).code(), backend_->failure());
  log.reset();
  backend_->Heal();
  EXPECT_EQ(Replay(), std::vector<uint64_t>{1});
}

INSTANTIATE_TEST_SUITE_P(Logs, LogTest, ::testing::Values("wal", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace jobq::store
