// What only the log in PostgreSQL does: its schema, leadership and fencing.
// The promises of every log are in log_test.cc.
#include "store/pg_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "tests/testing/pg_cluster.h"
#include "tests/unit/store/log_reports.h"

namespace jobq::store {
namespace {

wal::v1::Transition T(uint64_t seq) {
  wal::v1::Transition t;
  t.mutable_cancel()->set_seq(seq);
  return t;
}

class PgLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = testing::PgCluster::Get();
    ASSERT_NE(cluster_, nullptr);
  }
  PgLogOptions Options(const std::string& holder) {
    PgLogOptions o;
    o.conninfo = cluster_->conninfo();
    o.schema = schema_;
    o.holder = holder;
    return o;
  }
  std::unique_ptr<PgLog> Open(const std::string& holder,
                              std::vector<uint64_t>* seqs = nullptr) {
    auto log = PgLog::Open(Options(holder));
    EXPECT_TRUE(log.ok()) << log.status();
    if (!log.ok()) return nullptr;
    auto r = (*log)->Recover([&](const wal::v1::Transition& t) {
      if (seqs != nullptr) seqs->push_back(t.cancel().seq());
    });
    EXPECT_TRUE(r.ok()) << r.status();
    return std::move(*log);
  }

  testing::PgCluster* cluster_ = nullptr;
  std::string schema_ = testing::SchemaForTest();
};

TEST_F(PgLogTest, ANewcomerTakesOverAndTheDeposedWriterStoresNothingMore) {
  Commits first_commits, second_commits;
  auto first = Open("first");
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->Start(first_commits.Callback()).ok());
  first->Append(T(1));
  ASSERT_TRUE(first_commits.WaitFor(first->Commit()).ok());

  std::vector<uint64_t> seen;
  auto second = Open("second", &seen);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->epoch(), first->epoch() + 1);
  EXPECT_EQ(seen, std::vector<uint64_t>{1});
  EXPECT_EQ(cluster_->Psql("SELECT epoch, holder FROM " + schema_ + ".leader"),
            std::to_string(second->epoch()) + "|second\n");

  // The first one's next batch is refused, and every one after it.
  first->Append(T(2));
  absl::Status refused = first_commits.WaitFor(first->Commit());
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_NE(refused.message().find("deposed"), std::string::npos) << refused;
  first->Append(T(3));
  EXPECT_EQ(first_commits.WaitFor(first->Commit()).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_NE(first->Stats().failure.find("deposed"), std::string::npos);

  ASSERT_TRUE(second->Start(second_commits.Callback()).ok());
  second->Append(T(4));
  ASSERT_TRUE(second_commits.WaitFor(second->Commit()).ok());
  first->Stop();
  second->Stop();
  seen.clear();
  auto third = Open("third", &seen);
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 4}));
}

TEST_F(PgLogTest, AServerRestartedWhileTheLogIsIdleCostsNoFailure) {
  Commits commits;
  WriterReports reports;
  auto log = Open("one");
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Start(commits.Callback(), reports.Events()).ok());
  log->Append(T(1));
  ASSERT_TRUE(commits.WaitFor(log->Commit()).ok());
  ASSERT_TRUE(cluster_->Stop());
  ASSERT_TRUE(cluster_->Start());
  log->Append(T(2));
  EXPECT_TRUE(commits.WaitFor(log->Commit()).ok());
  EXPECT_EQ(reports.health_reports(), 0u);
  EXPECT_EQ(log->Stats().write_failures, 0u);
  log->Stop();
}

TEST_F(PgLogTest, ACommitWhoseAnswerWasLostIsSettledAndNeverStoredTwice) {
  Commits commits;
  WriterReports reports;
  PgLogOptions o = Options("one");
  o.retry_min = std::chrono::milliseconds(1);
  std::atomic<int> lose{1};
  o.lose_commit_answer = [&] { return lose.fetch_sub(1) == 1; };
  auto log = PgLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Recover([](const auto&) {}).ok());
  ASSERT_TRUE((*log)->Start(commits.Callback(), reports.Events()).ok());
  (*log)->Append(T(1));
  (*log)->Append(T(2), /*withdrawable=*/true);
  // Stored, though the answer never came: reported durable once settled.
  EXPECT_TRUE(commits.WaitFor((*log)->Commit()).ok());
  EXPECT_EQ(reports.WaitHealth(1).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(reports.WaitHealth(2).ok());
  (*log)->Append(T(3));
  EXPECT_TRUE(commits.WaitFor((*log)->Commit()).ok());
  (*log)->Stop();
  std::vector<uint64_t> seen;
  auto again = Open("two", &seen);
  // The enqueue was given back while in doubt, but it had been stored:
  // refused but stored, never the other way round.
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 1, 3}));
}

TEST_F(PgLogTest, AnSqlErrorStallsTheLogUntilItIsRepaired) {
  Commits commits;
  WriterReports reports;
  PgLogOptions o = Options("one");
  o.retry_min = std::chrono::milliseconds(1);
  o.retry_max = std::chrono::milliseconds(5);
  auto log = PgLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Recover([](const auto&) {}).ok());
  ASSERT_TRUE((*log)->Start(commits.Callback(), reports.Events()).ok());
  // The leader row is renamed away: every transaction fails, not sticky.
  cluster_->Psql("ALTER TABLE " + schema_ + ".leader RENAME TO away");
  (*log)->Append(T(1));
  uint64_t batch = (*log)->Commit();
  absl::Status health = reports.WaitHealth(1);
  EXPECT_EQ(health.code(), absl::StatusCode::kInternal) << health;
  EXPECT_NE(health.message().find("does not exist"), std::string::npos);
  cluster_->Psql("ALTER TABLE " + schema_ + ".away RENAME TO leader");
  EXPECT_TRUE(commits.WaitFor(batch).ok());
  EXPECT_TRUE(reports.WaitHealth(2).ok());
  (*log)->Stop();
}

TEST_F(PgLogTest, TheTablesLiveInTheSchemaNamed) {
  auto log = Open("one");
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(cluster_->Psql("SELECT string_agg(table_name, ',' ORDER BY "
                           "table_name) FROM information_schema.tables WHERE "
                           "table_schema = '" +
                           schema_ + "'"),
            "leader,log\n");
  EXPECT_EQ(log->Stats().dir, "postgres schema " + schema_);
}

TEST_F(PgLogTest, ABadSchemaNameIsRefusedBeforeConnecting) {
  for (const std::string& bad : std::vector<std::string>{
           "", "Jobq", "job-q", "9lives", "a\"; DROP TABLE x; --",
           std::string(64, 'a')}) {
    PgLogOptions o = Options("bad");
    o.schema = bad;
    o.conninfo = "host=/nonexistent";
    auto log = PgLog::Open(o);
    ASSERT_FALSE(log.ok()) << bad;
    EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(log.status().message().find("--postgres-schema"),
              std::string::npos)
        << log.status();
  }
}

TEST_F(PgLogTest, AnUnreachableServerIsUnavailableNamingTheConnection) {
  PgLogOptions o = Options("nobody");
  o.conninfo = "host=/nonexistent/socket/dir dbname=jobq";
  auto log = PgLog::Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(log.status().message().find("cannot connect"), std::string::npos)
      << log.status();
}

}  // namespace
}  // namespace jobq::store
