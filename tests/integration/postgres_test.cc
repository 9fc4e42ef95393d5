// The real jobqd with --postgres: the server stopped under load, a second
// jobqd taking the schema over, and bad settings. Kills and compaction
// run over both logs in durability_test.cc.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/integration/jobqd_process.h"
#include "tests/testing/pg_cluster.h"

namespace jobq::testing {
namespace {

using namespace std::chrono_literals;

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = PgCluster::Get();
    ASSERT_NE(cluster_, nullptr);
  }
  std::vector<std::string> Args() {
    return {"--postgres", cluster_->conninfo(), "--postgres-schema", schema_};
  }

  PgCluster* cluster_ = nullptr;
  std::string schema_ = SchemaForTest();
};

// Submits batches of noop jobs until stopped, counting acknowledgements
// and refusals.
class Producer {
 public:
  explicit Producer(client::Client& c) : thread_([this, &c] { Run(c); }) {}
  ~Producer() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Waits up to 30 s until `pred` holds over (acked, refused).
  bool WaitUntil(const std::function<bool(size_t, size_t)>& pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 30s,
                        [&] { return pred(acked_.size(), refused_); });
  }
  std::set<std::string> acked() {
    std::lock_guard lock(mu_);
    return acked_;
  }
  std::set<int> refusal_codes() {
    std::lock_guard lock(mu_);
    return codes_;
  }

 private:
  void Run(client::Client& c) {
    int n = 0;
    while (!stop_) {
      std::vector<v1::JobSpec> batch(20, MakeSpec("noop", "pg"));
      for (auto& s : batch) (*s.mutable_labels())["n"] = std::to_string(n++);
      auto resp = c.SubmitBatch(batch);
      std::lock_guard lock(mu_);
      if (resp.ok()) {
        for (const auto& r : resp->results()) {
          if (r.code() == 0) {
            acked_.insert(r.job_id());
          } else {
            ++refused_;
            codes_.insert(r.code());
          }
        }
      } else {
        ++refused_;
        codes_.insert(static_cast<int>(resp.status().code()));
      }
      cv_.notify_all();
    }
  }

  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> acked_;  // Guarded by mu_.
  size_t refused_ = 0;           // Guarded by mu_.
  std::set<int> codes_;          // Guarded by mu_.
  std::thread thread_;
};

// Every acknowledged job is held, once (no label twice), and has run.
void ExpectEveryJobOnce(client::Client& c, const std::set<std::string>& acked) {
  auto held = ListAll(c);
  std::set<std::string> labels;
  for (const auto& [id, job] : held) {
    EXPECT_TRUE(labels.insert(job.spec().labels().at("n")).second)
        << "job " << job.spec().labels().at("n") << " stored twice";
  }
  for (const auto& id : acked) {
    auto it = held.find(id);
    ASSERT_NE(it, held.end()) << "lost acknowledged job " << id;
    EXPECT_EQ(it->second.state(), v1::JOB_STATE_SUCCEEDED) << id;
  }
}

TEST_F(PostgresTest, AServerStoppedUnderLoadLosesNothingAndServiceResumes) {
  auto jobqd = JobqdProcess::Start(Args());
  ASSERT_NE(jobqd, nullptr);
  Producer producer(jobqd->client());
  ASSERT_TRUE(producer.WaitUntil([](size_t a, size_t) { return a >= 500; }));
  ASSERT_TRUE(cluster_->Stop());
  // Submits are refused while the database is away, and jobqd says why.
  EXPECT_TRUE(producer.WaitUntil([](size_t, size_t r) { return r >= 1; }));
  EXPECT_TRUE(jobqd->WaitForLog(std::regex("postgres log: cannot write")));
  size_t acked_while_down = producer.acked().size();
  ASSERT_TRUE(cluster_->Start());
  // Back by itself: acknowledgements resume.
  EXPECT_TRUE(producer.WaitUntil(
      [&](size_t a, size_t) { return a >= acked_while_down + 500; }));
  EXPECT_TRUE(jobqd->WaitForLog(std::regex("postgres log: writing again")));
  producer.Stop();
  EXPECT_EQ(producer.refusal_codes(),
            std::set<int>{static_cast<int>(absl::StatusCode::kUnavailable)});
  const std::set<std::string> acked = producer.acked();
  ASSERT_TRUE(jobqd->client().WaitUntilServing(30'000).ok());
  // Every job ran; a kill and a restart keep them all.
  v1::WatchRequest all;
  for (const auto& id : acked) all.add_job_ids(id);
  ASSERT_TRUE(jobqd->client()
                  .Watch(all, [](const v1::JobEvent&) { return true; })
                  .ok());
  ExpectEveryJobOnce(jobqd->client(), acked);
  EXPECT_EQ(jobqd->Stop(SIGKILL), 128 + SIGKILL);
  jobqd = JobqdProcess::Start(Args());
  ASSERT_NE(jobqd, nullptr);
  ExpectEveryJobOnce(jobqd->client(), acked);
  EXPECT_EQ(jobqd->Stop(SIGTERM), 0);
}

TEST_F(PostgresTest, ASecondJobqdTakesOverAndTheFirstStopsWriting) {
  auto first = JobqdProcess::Start(Args());
  ASSERT_NE(first, nullptr);
  auto job = first->client().Submit(MakeSpec("noop"));
  ASSERT_TRUE(job.ok()) << job.status();

  auto second = JobqdProcess::Start(Args());
  ASSERT_NE(second, nullptr);
  EXPECT_TRUE(
      second->WaitForLog(std::regex("leader of schema .* with epoch 2")))
      << second->Log();
  // The first one's next change is refused, and it says it was deposed.
  auto refused = first->client().Submit(MakeSpec("noop"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("deposed"), std::string::npos)
      << refused.status();
  EXPECT_TRUE(
      first->WaitForLog(std::regex("deposed: another jobqd took over")));
  EXPECT_TRUE(first->client().WaitForHealth(false, 30'000).ok());
  EXPECT_FALSE(first->client().Submit(MakeSpec("noop")).ok());

  // The second one holds the first one's job and takes new ones.
  EXPECT_TRUE(second->client().GetJob(job->job_id()).ok());
  EXPECT_TRUE(second->client().Submit(MakeSpec("noop")).ok());
  EXPECT_EQ(first->Stop(SIGTERM), 0);
  EXPECT_EQ(second->Stop(SIGTERM), 0);
}

TEST_F(PostgresTest, BadSettingsStopTheStartWithAClearError) {
  std::string both = JobqdProcess::StartExpectingFailure(
      {"--postgres", cluster_->conninfo(), "--data-dir", TempPath("data")});
  EXPECT_NE(both.find("--postgres and --data-dir"), std::string::npos) << both;
  std::string schema = JobqdProcess::StartExpectingFailure(
      {"--postgres", cluster_->conninfo(), "--postgres-schema", "Jobs-1"});
  EXPECT_NE(schema.find("--postgres-schema: \"Jobs-1\" is not a schema name"),
            std::string::npos)
      << schema;
  std::string away = JobqdProcess::StartExpectingFailure(
      {"--postgres", "host=/nonexistent/socket dbname=jobq"});
  EXPECT_NE(away.find("postgres: cannot connect"), std::string::npos) << away;
}

}  // namespace
}  // namespace jobq::testing
