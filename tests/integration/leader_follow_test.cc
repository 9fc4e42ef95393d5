// Clients given several addresses follow the leader: the C++ Client, its
// streams and the Worker, jobqctl and jobq-bench, against a real jobqd (the
// leader) and in-process fakes of a standby, which refuse every jobq.v1
// call as jobqd's standbys do.
#include <arpa/inet.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "client/worker.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

constexpr auto kDeadline = std::chrono::seconds(30);

// A node that refuses every call but health's with UNAVAILABLE and
// `message`, naming `leader` in trailing metadata `jobq-leader` when it is
// not empty, and reports NOT_SERVING: a jobqd standby, as clients see it.
// In-process, on 127.0.0.1 port 0. Thread: any.
class FakeStandby {
 public:
  // `message` empty: a standby's own, naming `leader` (or no leader).
  explicit FakeStandby(std::string leader, std::string message = "")
      : refuser_(this),
        leader_(std::move(leader)),
        message_(std::move(message)) {
    if (message_.empty()) {
      message_ = leader_.empty()
                     ? "jobqd is a standby; no leader yet"
                     : "jobqd is a standby; the leader is " + leader_;
    }
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterCallbackGenericService(&refuser_);
    server_ = builder.BuildAndStart();
    server_->GetHealthCheckService()->SetServingStatus(false);
  }
  ~FakeStandby() { server_->Shutdown(std::chrono::system_clock::now()); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Calls refused so far.
  int calls() const { return calls_.load(); }
  // Names this node itself as the leader from now on.
  void NameItself() {
    std::lock_guard lock(mu_);
    leader_ = address();
    message_ = "jobqd is a standby; the leader is " + leader_;
  }

 private:
  class Refusal final : public grpc::ServerGenericBidiReactor {
   public:
    Refusal(grpc::GenericCallbackServerContext* ctx, const std::string& leader,
            const std::string& message) {
      if (!leader.empty()) ctx->AddTrailingMetadata("jobq-leader", leader);
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, message));
    }
    void OnDone() override { delete this; }
  };
  class Refuser final : public grpc::CallbackGenericService {
   public:
    explicit Refuser(FakeStandby* node) : node_(node) {}
    grpc::ServerGenericBidiReactor* CreateReactor(
        grpc::GenericCallbackServerContext* ctx) override {
      ++node_->calls_;
      std::lock_guard lock(node_->mu_);
      return new Refusal(ctx, node_->leader_, node_->message_);
    }

   private:
    FakeStandby* node_;
  };

  Refuser refuser_;
  mutable std::mutex mu_;
  std::string leader_;   // Guarded by mu_.
  std::string message_;  // Guarded by mu_.
  std::atomic<int> calls_{0};
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// A local port that refuses connections for the holder's lifetime: bound,
// never listening, so no one else can take it.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "cannot bind a local port";
    }
    port_ = ntohs(a.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Connects the channel `c` has to `address` before the test uses it, so
// that the test is about following the leader, not about gRPC 1.51's
// spurious failure of a first connection (see Client::WaitUntilServing).
void Connect(client::Client& c, const std::string& address) {
  auto node = c.cluster()->FindOrAdd(address);
  ASSERT_TRUE(node.has_value());
  ASSERT_TRUE(c.cluster()->node(*node).channel->WaitForConnected(
      std::chrono::system_clock::now() + kDeadline));
}

class LeaderFollowTest : public JobqdTest {
 protected:
  std::string leader() const { return jobqd_->address(); }
};

TEST_F(LeaderFollowTest, AClientSubmitsToTheLeaderAStandbyNames) {
  FakeStandby standby(leader());
  client::Client c(standby.address() + "," + leader());
  Connect(c, leader());
  auto r = c.Submit(MakeSpec("noop", "ha"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(standby.calls(), 1);
  EXPECT_TRUE(jobqd_->client().GetJob(r->job_id()).ok());
  // The leader is kept: the next calls go straight to it.
  EXPECT_EQ(c.address(), leader());
  ASSERT_TRUE(c.GetJob(r->job_id()).ok());
  ASSERT_TRUE(c.PauseQueue("ha").ok());
  EXPECT_EQ(standby.calls(), 1);
}

TEST_F(LeaderFollowTest, ALeaderNotInTheListIsAddedAndFollowed) {
  FakeStandby standby(leader());
  client::Client c(standby.address());
  auto r = c.Submit(MakeSpec("noop", "ha"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(c.cluster()->size(), 2u);
  EXPECT_EQ(c.address(), leader());
}

TEST_F(LeaderFollowTest, AnAddressThatRefusesConnectionsIsSkipped) {
  RefusingPort down;
  client::Client c(down.address() + "," + leader());
  Connect(c, leader());
  auto r = c.Submit(MakeSpec("noop", "ha"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(c.address(), leader());
  EXPECT_TRUE(jobqd_->client().GetJob(r->job_id()).ok());
}

TEST_F(LeaderFollowTest, WithOnlyStandbysTheCallReturnsTheRefusal) {
  FakeStandby alone("");
  client::Client c(alone.address());
  auto r = c.Submit(MakeSpec("noop", "ha"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "jobqd is a standby; no leader yet");
  EXPECT_EQ(alone.calls(), 1);
  // A standby that names itself is asked once more, and no more.
  FakeStandby confused("");
  confused.NameItself();
  client::Client d(confused.address());
  auto s = d.GetJob("00000000000000aa");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.status().message(),
            "jobqd is a standby; the leader is " + confused.address());
  EXPECT_EQ(confused.calls(), 2);
}

TEST_F(LeaderFollowTest, AWriteThatMayHaveArrivedIsNotSentToAnotherNode) {
  // UNAVAILABLE without a standby's words: a connection that broke after
  // the call went out, for all the client knows.
  FakeStandby broken("", "Socket closed");
  client::Client c(broken.address() + "," + leader());
  Connect(c, leader());
  auto r = c.Submit(MakeSpec("noop", "ha"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "Socket closed");
  EXPECT_EQ(broken.calls(), 1);
  auto stats = jobqd_->client().GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->total().submitted_total(), 0u);
  // A read goes on to the next node, which answers.
  auto got = c.GetJob("00000000000000aa");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
  EXPECT_EQ(broken.calls(), 2);
}

TEST_F(LeaderFollowTest, StreamsFollowTheLeader) {
  FakeStandby standby(leader());
  client::Client c(standby.address() + "," + leader());
  Connect(c, leader());
  v1::JobEvent last = RunToEnd(c, MakeSpec("noop", "ha"));
  EXPECT_EQ(last.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(standby.calls(), 1);
  client::Client d(standby.address() + "," + leader());
  Connect(d, leader());
  v1::WatchRequest watch;
  watch.add_job_ids(last.job_id());
  v1::JobState seen = v1::JOB_STATE_UNSPECIFIED;
  absl::Status s = d.Watch(watch, [&](const v1::JobEvent& e) {
    seen = e.state();
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(seen, v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(standby.calls(), 2);
}

TEST_F(LeaderFollowTest, AWorkerWorksForTheLeaderAStandbyNames) {
  FakeStandby standby(leader());
  client::Client c(standby.address() + "," + leader());
  client::WorkerOptions options;
  options.kinds = {"ha-resize"};
  client::Worker worker(c.cluster(), options, [](client::WorkerJob&) {
    return client::Outcome::Success("done");
  });
  std::thread run([&] { EXPECT_TRUE(worker.Run().ok()); });
  EXPECT_TRUE(worker.WaitWelcomed(kDeadline));
  EXPECT_GE(standby.calls(), 1);
  auto r = jobqd_->client().Submit(MakeSpec("ha-resize", "ha"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(WaitForEnd(jobqd_->client(), r->job_id()).state(),
            v1::JOB_STATE_SUCCEEDED);
  worker.Stop();
  run.join();
}

TEST_F(LeaderFollowTest, HealthIsTheLeaders) {
  FakeStandby standby(leader());
  client::Client c(standby.address() + "," + leader());
  ASSERT_TRUE(c.WaitUntilServing(30'000).ok());
  EXPECT_EQ(c.address(), leader());
  client::Client d(standby.address() + "," + leader());
  Connect(d, leader());
  auto healthy = d.Healthy();
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_TRUE(*healthy);
  EXPECT_EQ(d.address(), leader());
  // The standby alone is not SERVING, as before.
  client::Client alone(standby.address());
  healthy = alone.Healthy();
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_FALSE(*healthy);
}

TEST_F(LeaderFollowTest, JobqctlTakesAListOfAddresses) {
  FakeStandby standby(leader());
  std::string addrs = standby.address() + "," + leader();
  CommandRun r = RunCommand(std::string(JOBQCTL_PATH) + " --addr " + addrs +
                            " submit --kind noop --queue ha 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_GE(r.out.size(), 16u) << r.out;
  std::string id = r.out.substr(0, 16);
  EXPECT_TRUE(jobqd_->client().GetJob(id).ok()) << r.out;
  EXPECT_EQ(standby.calls(), 1);
  // JOBQ_ADDR the same.
  CommandRun got =
      RunCommand("JOBQ_ADDR=" + addrs + " " + JOBQCTL_PATH + " get " + id);
  EXPECT_EQ(got.exit_code, 0) << got.out;
  EXPECT_NE(got.out.find(id), std::string::npos) << got.out;
}

TEST_F(LeaderFollowTest, JobqBenchRunsOnTheLeader) {
  FakeStandby standby(leader());
  CommandRun r =
      RunCommand(std::string(JOBQ_BENCH_PATH) + " --addr " + standby.address() +
                 "," + leader() + " --json ingest --path submit -n 200 -c 2");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto stats = jobqd_->client().GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->total().submitted_total(), 200u);
  EXPECT_EQ(standby.calls(), 0);
}

}  // namespace
}  // namespace jobq::testing
