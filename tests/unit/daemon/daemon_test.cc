// The assembled daemon in process, on port 0, with a file system that
// fails on demand: the health service follows the log.
#include "daemon/daemon.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <future>

#include "client/client.h"
#include "tests/unit/store/fault_env.h"

namespace jobq::daemon {
namespace {

// One worker, ports picked by the system, the log in the fake file system.
config::ServerConfig TestConfig() {
  config::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.http_listen = "127.0.0.1:0";
  config.workers = 1;
  config.data_dir = "/data";
  return config;
}

v1::JobSpec Noop() {
  v1::JobSpec s;
  s.set_kind("noop");
  return s;
}

TEST(DaemonTest, AFailedFsyncTurnsHealthNotServingAndSubmitsUnavailable) {
  store::FaultEnv env;
  config::ServerConfig config = TestConfig();
  Daemon daemon(config, nullptr, &env);
  ASSERT_TRUE(daemon.Start().ok());
  client::Client c("127.0.0.1:" + std::to_string(daemon.port()));
  auto healthy = c.Healthy();
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_TRUE(*healthy);
  auto first = c.Submit(Noop());
  ASSERT_TRUE(first.ok()) << first.status();

  env.FailSyncs();
  auto failed = c.Submit(Noop());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  env.Heal();
  EXPECT_EQ(c.Submit(Noop()).status().code(), absl::StatusCode::kUnavailable);
  healthy = c.Healthy();
  ASSERT_TRUE(healthy.ok());
  EXPECT_FALSE(*healthy);
  // Reads go on, and the failure shows in the stats.
  EXPECT_TRUE(c.GetJob(first->job_id()).ok());
  auto stats = c.GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_NE(stats->storage_stats().failure().find("fdatasync"),
            std::string::npos)
      << stats->storage_stats().failure();
  daemon.Shutdown();
}

TEST(DaemonTest, AFullDiskFailsSubmitsWithResourceExhaustedAndRecovers) {
  store::FaultEnv env;
  config::ServerConfig config = TestConfig();
  Daemon daemon(config, nullptr, &env);
  ASSERT_TRUE(daemon.Start().ok());
  client::Client c("127.0.0.1:" + std::to_string(daemon.port()));
  env.FailAppendsAfter(0, ENOSPC);
  auto full = c.Submit(Noop());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.status().message().find("No space left"), std::string::npos)
      << full.status();
  // Degraded: NOT_SERVING, and the whole batch is refused as a call.
  auto healthy = c.Healthy();
  ASSERT_TRUE(healthy.ok());
  EXPECT_FALSE(*healthy);
  auto batch = c.SubmitBatch({Noop(), Noop()});
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kResourceExhausted);
  auto stats = c.GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_NE(stats->storage_stats().stalled().find("No space left"),
            std::string::npos);
  EXPECT_GE(stats->storage_stats().write_failures(), 1u);
  // Space again: the log's next try succeeds and jobqd serves by itself.
  env.Heal();
  ASSERT_TRUE(c.WaitForHealth(true, 20'000).ok());
  EXPECT_TRUE(c.Submit(Noop()).ok());
  daemon.Shutdown();
}

TEST(DaemonTest,
     ASubmitAndWatchWhileTheLogCannotWriteIsRefusedAndJobqdServesOn) {
  store::FaultEnv env;
  Daemon daemon(TestConfig(), nullptr, &env);
  ASSERT_TRUE(daemon.Start().ok());
  client::Client c("127.0.0.1:" + std::to_string(daemon.port()));
  env.FailAppendsAfter(0, ENOSPC);
  EXPECT_EQ(c.Submit(Noop()).status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(c.WaitForHealth(false, 20'000).ok());
  // Refused on the core before anything changed: no outcome to read.
  absl::Status watched =
      c.SubmitAndWatch(Noop(), [](const v1::JobEvent&) { return true; });
  EXPECT_EQ(watched.code(), absl::StatusCode::kResourceExhausted) << watched;
  EXPECT_TRUE(c.GetStats().ok());
  daemon.Shutdown();
}

TEST(DaemonTest, ShutdownWhileAChangeWaitsForAFullDiskAnswersItAndEnds) {
  store::FaultEnv env;
  Daemon daemon(TestConfig(), nullptr, &env);
  ASSERT_TRUE(daemon.Start().ok());
  client::Client c("127.0.0.1:" + std::to_string(daemon.port()));
  ASSERT_TRUE(c.PauseQueue("q").ok());
  env.FailAppendsAfter(0, ENOSPC);
  // Applied while the log still wrote; its write then fails: it waits to
  // be stored.
  auto pause =
      std::async(std::launch::async, [&] { return c.PauseQueue("q"); });
  ASSERT_TRUE(c.WaitForHealth(false, 20'000).ok());
  EXPECT_EQ(pause.wait_for(std::chrono::milliseconds(0)),
            std::future_status::timeout);
  auto stopped = std::async(std::launch::async, [&] { daemon.Shutdown(); });
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(30)),
            std::future_status::ready);
  EXPECT_EQ(pause.get().status().code(), absl::StatusCode::kUnavailable);
}

TEST(DaemonTest, HealthIsNotServingAndWorkIsRefusedWhileTheLogIsReplayed) {
  store::FaultEnv env;
  config::ServerConfig config = TestConfig();
  {
    Daemon first(config, nullptr, &env);
    ASSERT_TRUE(first.Start().ok());
    client::Client c("127.0.0.1:" + std::to_string(first.port()));
    ASSERT_TRUE(c.Submit(Noop()).ok());
    first.Shutdown();
  }
  // Hold recovery inside its first read of a segment.
  std::promise<void> reading, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> once{true};
  env.SetReadHook([&] {
    if (once.exchange(false)) {
      reading.set_value();
      released.wait();
    }
  });
  Daemon daemon(config, nullptr, &env);
  auto started = std::async(std::launch::async, [&] { return daemon.Start(); });
  reading.get_future().wait();
  client::Client c("127.0.0.1:" + std::to_string(daemon.port()));
  auto healthy = c.Healthy();
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_FALSE(*healthy);
  auto refused = c.Submit(Noop());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("recovering"), std::string::npos);
  httplib::Client http("127.0.0.1", daemon.http_port());
  auto ready = http.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(ready->body, "recovering the write-ahead log\n");

  release.set_value();
  ASSERT_TRUE(started.get().ok());
  healthy = c.Healthy();
  ASSERT_TRUE(healthy.ok());
  EXPECT_TRUE(*healthy);
  EXPECT_EQ(http.Get("/readyz")->status, 200);
  auto stats = c.GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->total().submitted_total(), 1u);  // Replayed.
  daemon.Shutdown();
}

TEST(DaemonTest, AnUnwritableDataDirectoryStopsTheStartWithItsReason) {
  config::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.http_listen = "127.0.0.1:0";
  config.data_dir = "/proc/jobq-cannot-be-here";
  Daemon daemon(config);
  absl::Status s = daemon.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/proc/jobq-cannot-be-here"), std::string::npos)
      << s;
}

}  // namespace
}  // namespace jobq::daemon
