// What only the log in PostgreSQL does: its schema, leadership, fencing
// and the tailing of standbys.
// The promises of every log are in log_test.cc.
#include "store/pg_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "store/pg_leader.h"
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

  std::unique_ptr<PgLeader> Leader(
      const std::string& holder,
      std::chrono::milliseconds lease = std::chrono::milliseconds(2000)) {
    // The schema and its tables first.
    EXPECT_TRUE(PgLog::Open(Options(holder)).ok());
    auto leader = PgLeader::Connect({.conninfo = cluster_->conninfo(),
                                     .schema = schema_,
                                     .holder = holder,
                                     .address = holder + ":7070",
                                     .lease = lease});
    EXPECT_TRUE(leader.ok()) << leader.status();
    return leader.ok() ? std::move(*leader) : nullptr;
  }
  // Campaigns until `leader` leads, for up to 30 s (the server ends a
  // closed connection's session a moment after it closes).
  static bool CampaignUntilLeading(PgLeader& leader) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      auto view = leader.Campaign();
      if (view.ok() && view->mine) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  testing::PgCluster* cluster_ = nullptr;
  std::string schema_ = testing::SchemaForTest();
};

TEST_F(PgLogTest, OneNodeLeadsTheOthersSeeItAndTakeOverWhenItResigns) {
  auto first = Leader("first");
  auto second = Leader("second");
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  auto led = first->Campaign();
  ASSERT_TRUE(led.ok()) << led.status();
  EXPECT_TRUE(led->mine);
  EXPECT_EQ(led->epoch, 1);
  EXPECT_FALSE(led->took_over);
  auto seen = second->Campaign();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_FALSE(seen->mine);
  EXPECT_EQ(seen->epoch, 1);
  EXPECT_EQ(seen->address, "first:7070");
  first->Resign();
  seen = second->Campaign();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_TRUE(seen->mine);
  EXPECT_TRUE(seen->took_over);
  EXPECT_EQ(seen->epoch, 2);
  EXPECT_EQ(cluster_->Psql("SELECT epoch, holder, address FROM " + schema_ +
                           ".leader"),
            "2|second|second:7070\n");
}

TEST_F(PgLogTest, ALeaderWhoseSessionEndedIsReplacedWithoutWaitingForItsLease) {
  auto first = Leader("first", std::chrono::minutes(10));
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->Campaign()->mine);
  first.reset();  // Its connection closes, as when its process dies.
  auto second = Leader("second");
  ASSERT_NE(second, nullptr);
  // Until the server has ended the first one's session.
  EXPECT_TRUE(CampaignUntilLeading(*second));
  EXPECT_EQ(second->epoch(), 2);
}

TEST_F(PgLogTest, ALeaderPastItsLeaseIsReplacedAndToldWhenItRenews) {
  auto first = Leader("first", std::chrono::milliseconds(1000));
  ASSERT_NE(first, nullptr);
  std::promise<absl::Status> deposed;
  first->set_on_deposed([&](absl::Status s) { deposed.set_value(s); });
  ASSERT_TRUE(first->Campaign()->mine);
  auto second = Leader("second");
  ASSERT_TRUE(second->Campaign().ok());
  EXPECT_FALSE(second->leading());
  // Its lease runs out (as when it hangs) while its session lives on; the
  // first one may renew in between, so again until the second one leads.
  bool taken = false;
  for (int i = 0; i < 100 && !taken; ++i) {
    cluster_->Psql("UPDATE " + schema_ +
                   ".leader SET lease_until = now() - interval '1 second'");
    auto seen = second->Campaign();
    ASSERT_TRUE(seen.ok()) << seen.status();
    taken = seen->mine;
  }
  ASSERT_TRUE(taken);
  // The first one's next renewal finds the new epoch.
  auto told = deposed.get_future();
  ASSERT_EQ(told.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  absl::Status why = told.get();
  EXPECT_EQ(why.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(why.message().find("deposed"), std::string::npos) << why;
  EXPECT_FALSE(first->leading());
}

TEST_F(PgLogTest, ANewLeaderFencesTheOldWriterWhichStoresNothingMore) {
  Commits first_commits, second_commits;
  auto first_leader = Leader("first");
  ASSERT_TRUE(first_leader->Campaign()->mine);
  std::promise<absl::Status> deposed;
  PgLogOptions o = Options("first");
  o.on_deposed = [&](absl::Status s) { deposed.set_value(s); };
  auto opened = PgLog::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<PgLog> first = std::move(*opened);
  ASSERT_TRUE(first->Recover([](const auto&) {}).ok());
  first->Lead(first_leader->epoch());
  ASSERT_TRUE(first->Start(first_commits.Callback()).ok());
  first->Append(T(1));
  ASSERT_TRUE(first_commits.WaitFor(first->Commit()).ok());

  // Another node takes over (the first one's lease is gone).
  first_leader->Resign();
  auto second_leader = Leader("second");
  ASSERT_TRUE(second_leader->Campaign()->mine);
  std::vector<uint64_t> seen;
  auto second = Open("second", &seen);
  ASSERT_NE(second, nullptr);
  second->Lead(second_leader->epoch());
  EXPECT_EQ(seen, std::vector<uint64_t>{1});

  // The first one's next batch is refused, and every one after it.
  first->Append(T(2));
  absl::Status refused = first_commits.WaitFor(first->Commit());
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_NE(refused.message().find("deposed"), std::string::npos) << refused;
  auto told = deposed.get_future();
  ASSERT_EQ(told.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_NE(told.get().message().find("deposed"), std::string::npos);
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

TEST_F(PgLogTest, AStandbyTailsWhatTheLeaderCommitsAndNoticesAGap) {
  Commits commits;
  auto leader = Open("leader");
  ASSERT_NE(leader, nullptr);
  ASSERT_TRUE(leader->Start(commits.Callback()).ok());
  std::vector<uint64_t> seen;
  auto standby = Open("standby", &seen);
  ASSERT_NE(standby, nullptr);
  auto apply = [&](const wal::v1::Transition& t) {
    seen.push_back(t.cancel().seq());
  };
  leader->Append(T(1));
  leader->Append(T(2));
  ASSERT_TRUE(commits.WaitFor(leader->Commit()).ok());
  auto tailed = standby->Tail(apply);
  ASSERT_TRUE(tailed.ok()) << tailed.status();
  EXPECT_EQ(*tailed, 2u);
  EXPECT_EQ(standby->lag(), 0);
  leader->Append(T(3));
  ASSERT_TRUE(commits.WaitFor(leader->Commit()).ok());
  EXPECT_EQ(*standby->Tail(apply), 1u);
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(*standby->Tail(apply), 0u);
  // Records it never read are deleted (a compaction): it must start over.
  leader->Append(T(4));
  leader->Append(T(5));
  ASSERT_TRUE(commits.WaitFor(leader->Commit()).ok());
  cluster_->Psql("DELETE FROM " + schema_ + ".log WHERE seq = 4");
  auto behind = standby->Tail(apply);
  EXPECT_EQ(behind.status().code(), absl::StatusCode::kFailedPrecondition)
      << behind.status();
  EXPECT_NE(behind.status().message().find("behind"), std::string::npos);
  leader->Stop();
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
