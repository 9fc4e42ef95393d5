// What only the log in PostgreSQL does: its schema, leadership, fencing
// and the tailing of standbys.
// The promises of every log are in log_test.cc.
#include "store/pg_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
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

TEST_F(PgLogTest, ALeaderHungInsideATransactionIsEndedByTheNodeTakingOver) {
  auto second = Leader("second");
  ASSERT_NE(second, nullptr);
  // A leader of epoch 1 whose process stopped (SIGSTOP, a paused VM) while
  // its writer held the leader row FOR SHARE: its session lives on, its
  // lease runs out, and without help the row lock would stay taken.
  auto hung = PgConn::Connect(cluster_->conninfo());
  ASSERT_TRUE(hung.ok()) << hung.status();
  ASSERT_TRUE((*hung)
                  ->Exec("UPDATE " + schema_ +
                         ".leader SET epoch = 1, holder = 'first', "
                         "lease_until = now() + interval '200 milliseconds', "
                         "backend_pid = pg_backend_pid()")
                  .ok());
  auto held = (*hung)->Exec(
      "SET application_name = '" + LeaderSessionName(schema_, 1) +
      "'; BEGIN; SELECT epoch FROM " + schema_ + ".leader FOR SHARE");
  ASSERT_TRUE(held.ok()) << held.status();

  EXPECT_TRUE(CampaignUntilLeading(*second));
  EXPECT_EQ(second->epoch(), 2);
  // The hung leader's session was ended: its transaction stores nothing.
  auto after = (*hung)->Exec("SELECT 1");
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnavailable)
      << after.status();
  EXPECT_TRUE((*hung)->broken());
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
  ASSERT_TRUE(commits.WaitFor(leader->Commit()).ok());
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

TEST_F(PgLogTest, ATransactionsRecordsShareRowsAndAreReadBackInOrder) {
  Commits commits;
  auto log = Open("one");
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Start(commits.Callback()).ok());
  std::vector<uint64_t> written;
  for (uint64_t i = 1; i <= 2000; ++i) {
    log->Append(T(i));
    written.push_back(i);
  }
  // A record larger than a row, between smaller ones: a row of its own.
  wal::v1::Transition big;
  big.mutable_finish()->set_seq(2001);
  big.mutable_finish()->set_result(std::string(3 * PgLog::kRowBytes, 'r'));
  log->Append(big);
  log->Append(T(2002));
  ASSERT_TRUE(commits.WaitFor(log->Commit()).ok());
  log->Append(T(2003));  // A transaction of one record: a row of one.
  ASSERT_TRUE(commits.WaitFor(log->Commit()).ok());
  log->Stop();
  std::string rows = cluster_->Psql(
      "SELECT count(*), sum(records), max(records), min(seq), "
      "max(seq + records - 1) FROM " +
      schema_ + ".log");
  int count = 0, sum = 0, most = 0, first = 0, last = 0;
  ASSERT_EQ(std::sscanf(rows.c_str(), "%d|%d|%d|%d|%d", &count, &sum, &most,
                        &first, &last),
            5)
      << rows;
  EXPECT_EQ(sum, 2003);
  EXPECT_EQ(first, 1);
  EXPECT_EQ(last, 2003);
  EXPECT_LT(count, 2003 / 100) << "a row per record";
  EXPECT_GT(most, 100);
  EXPECT_EQ(cluster_->Psql("SELECT records FROM " + schema_ +
                           ".log WHERE seq = 2001"),
            "1\n");

  std::vector<uint64_t> seen;
  std::string result;
  auto reopened = PgLog::Open(Options("two"));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto stats = (*reopened)->Recover([&](const wal::v1::Transition& t) {
    if (t.has_finish()) {
      seen.push_back(t.finish().seq());
      result = t.finish().result();
    } else {
      seen.push_back(t.cancel().seq());
    }
  });
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->records, 2003u);
  written.insert(written.end(), {2001, 2002, 2003});
  EXPECT_EQ(seen, written);
  EXPECT_EQ(result, std::string(3 * PgLog::kRowBytes, 'r'));
  // And it goes on after the last record.
  Commits more;
  ASSERT_TRUE((*reopened)->Start(more.Callback()).ok());
  (*reopened)->Append(T(2004));
  ASSERT_TRUE(more.WaitFor((*reopened)->Commit()).ok());
  (*reopened)->Stop();
  EXPECT_EQ(
      cluster_->Psql("SELECT max(seq + records - 1) FROM " + schema_ + ".log"),
      "2004\n");
}

TEST_F(PgLogTest, ALogOfTheFirstReleaseIsReadAndExtended) {
  // The tables as the first release made them: a row per record.
  auto hex = [](uint64_t seq) {
    std::string bytes = T(seq).SerializeAsString(), out = "\\\\x";
    for (unsigned char c : bytes)
      absl::StrAppend(&out, absl::Hex(c, absl::kZeroPad2));
    return out;
  };
  cluster_->Psql("CREATE SCHEMA " + schema_ + "; CREATE TABLE " + schema_ +
                 ".leader (id integer PRIMARY KEY CHECK (id = 1), epoch "
                 "bigint NOT NULL, holder text NOT NULL, since timestamptz NOT "
                 "NULL); CREATE TABLE " +
                 schema_ +
                 ".log (seq bigint PRIMARY KEY, generation bigint NOT NULL, "
                 "record bytea NOT NULL); INSERT INTO " +
                 schema_ + ".log VALUES (1, 1, '" + hex(1) + "'), (2, 1, '" +
                 hex(2) + "')");
  ASSERT_EQ(cluster_->Psql("SELECT count(*) FROM " + schema_ + ".log"), "2\n");
  std::vector<uint64_t> seen;
  auto log = Open("one", &seen);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
  Commits commits;
  ASSERT_TRUE(log->Start(commits.Callback()).ok());
  log->Append(T(3));
  log->Append(T(4));
  ASSERT_TRUE(commits.WaitFor(log->Commit()).ok());
  log->Stop();
  seen.clear();
  auto again = Open("two", &seen);
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(cluster_->Psql("SELECT string_agg(seq || ':' || records, ',' "
                           "ORDER BY seq) FROM " +
                           schema_ + ".log"),
            "1:1,2:1,3:2\n");
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
