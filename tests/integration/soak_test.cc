// A soak under hostile load: JOBQ_SOAK_STREAMS concurrent Watch streams
// (10,000; fewer in sanitizer builds) on many connections, while a flood of
// garbage connections hits the gRPC and HTTP ports and idle ones sit open;
// jobqd's memory stays bounded, every stream gets its events, and service
// is normal afterwards.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

// Resident memory of `pid`, from /proc.
size_t ResidentBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Counts what the streams see.
class Tally {
 public:
  void Opened() { Add(&opened_); }
  void Succeeded() { Add(&succeeded_); }
  void Done(const grpc::Status& s) {
    if (s.error_code() != grpc::StatusCode::CANCELLED) {
      std::lock_guard lock(mu_);
      if (failure_.empty()) failure_ = s.error_message();
    }
    Add(&done_);
  }
  // Waits up to `timeout` for `*counter` to reach `n`.
  bool WaitFor(const int* counter, int n, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return *counter >= n; });
  }
  int opened_ = 0, succeeded_ = 0, done_ = 0;  // Guarded by mu_.
  std::string failure_;                        // Guarded by mu_.

 private:
  void Add(int* counter) {
    std::lock_guard lock(mu_);
    ++*counter;
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
};

// One Watch stream of a queue on the callback API: no thread of its own.
class WatchStream final : public grpc::ClientReadReactor<v1::WatchResponse> {
 public:
  WatchStream(v1::JobService::Stub* stub, const std::string& queue,
              Tally* tally)
      : tally_(tally) {
    request_.set_queue(queue);
    request_.add_states(v1::JOB_STATE_SUCCEEDED);
    stub->async()->Watch(&ctx_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows.
    if (!opened_) {
      opened_ = true;
      tally_->Opened();
    }
    for (const auto& e : response_.events()) {
      if (e.state() == v1::JOB_STATE_SUCCEEDED) tally_->Succeeded();
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& s) override { tally_->Done(s); }
  void Cancel() { ctx_.TryCancel(); }

 private:
  Tally* const tally_;
  grpc::ClientContext ctx_;
  v1::WatchRequest request_;
  v1::WatchResponse response_;
  bool opened_ = false;  // Reactions run one at a time.
};

TEST(SoakTest, TenThousandStreamsAndAFloodOfGarbageConnections) {
  constexpr int kStreams = JOBQ_SOAK_STREAMS;
  constexpr int kConnections = 20;  // 500 streams each, under the 1,000.
  constexpr int kQueues = 10;       // 1,000 watchers each, under 10,000.
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  const size_t rss_before = ResidentBytes(jobqd->pid());
  const int port = std::stoi(jobqd->address().substr(10));

  // Garbage while the streams open and deliver: kGarbage connections
  // with random bytes after an HTTP/2 preface, half a preface, or HTTP/1,
  // a quarter of them to the HTTP port; and 200 connections that say
  // nothing and stay open.
  constexpr int kGarbage = 5000;
  std::atomic<int> garbage{0};
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    int fd = Connect(port);
    if (fd >= 0) idle.push_back(fd);
  }
  std::jthread flood([&] {
    std::mt19937 rng(7);
    using namespace std::string_literals;
    const std::string kinds[] = {
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x04\x00"s,
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n"s, "PRI * HTTP/2.0\r\n"s};
    while (garbage.load() < kGarbage) {
      bool http = garbage.load() % 4 == 3;
      int fd = Connect(http ? jobqd->http_port() : port);
      if (fd < 0) continue;
      std::string bytes = kinds[rng() % 3];
      for (int i = 0; i < 512; ++i) bytes.push_back(static_cast<char>(rng()));
      (void)send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      close(fd);
      garbage.fetch_add(1);
    }
  });

  Tally tally;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::JobService::Stub>> stubs;
  for (int i = 0; i < kConnections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("jobq.test.connection", i);  // A connection each.
    channels.push_back(grpc::CreateCustomChannel(
        jobqd->address(), grpc::InsecureChannelCredentials(), args));
    stubs.push_back(v1::JobService::NewStub(channels.back()));
  }
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<WatchStream>> streams;
  // However the test ends, the streams end before they are freed.
  struct CancelAll {
    std::vector<std::unique_ptr<WatchStream>>* streams;
    Tally* tally;
    ~CancelAll() {
      for (auto& s : *streams) s->Cancel();
      tally->WaitFor(&tally->done_, static_cast<int>(streams->size()),
                     std::chrono::seconds(60));
    }
  } cancel_all{&streams, &tally};
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(std::make_unique<WatchStream>(
        stubs[i % kConnections].get(), "soak-" + std::to_string(i % kQueues),
        &tally));
  }
  ASSERT_TRUE(tally.WaitFor(&tally.opened_, kStreams, std::chrono::seconds(90)))
      << tally.opened_ << " of " << kStreams << " opened; " << tally.failure_;
  double open_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  // One job per queue: every stream sees its queue's job succeed.
  for (int q = 0; q < kQueues; ++q) {
    ASSERT_TRUE(jobqd->client()
                    .Submit(MakeSpec("noop", "soak-" + std::to_string(q)))
                    .ok());
  }
  ASSERT_TRUE(
      tally.WaitFor(&tally.succeeded_, kStreams, std::chrono::seconds(90)))
      << tally.succeeded_ << " of " << kStreams
      << " streams got the event; ended: " << tally.done_ << " "
      << tally.failure_;
  flood.join();
  const size_t rss_peak = ResidentBytes(jobqd->pid());

  auto stats = jobqd->client().GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->open_streams(), static_cast<uint64_t>(kStreams));
  std::printf(
      "soak: %d streams on %d connections open in %.2f s; %d garbage "
      "connections and %zu idle ones; jobqd resident %.1f MiB before, "
      "%.1f MiB at peak (%.1f KiB per stream)\n",
      kStreams, kConnections, open_s, garbage.load(), idle.size(),
      rss_before / 1048576.0, rss_peak / 1048576.0,
      (rss_peak - rss_before) / 1024.0 / kStreams);
  // Bounded: a few tens of KiB per stream, nothing per garbage connection.
  // (A sanitizer's allocator keeps freed memory and pads every block.)
  if (!JOBQ_SANITIZED) {
    EXPECT_LT(rss_peak - rss_before, size_t{kStreams} * 64 * 1024 + (64 << 20));
  }

  // The streams end; service is normal.
  for (auto& s : streams) s->Cancel();
  ASSERT_TRUE(tally.WaitFor(&tally.done_, kStreams, std::chrono::seconds(60)));
  EXPECT_EQ(tally.failure_, "");
  for (int fd : idle) close(fd);
  EXPECT_EQ(RunToEnd(jobqd->client(), MakeSpec("sleep", "", "1ms")).state(),
            v1::JOB_STATE_SUCCEEDED);
  CommandRun ctl = jobqd->Ctl("stats");
  EXPECT_EQ(ctl.exit_code, 0) << ctl.out;
  int status = jobqd->Stop(SIGTERM);
  EXPECT_EQ(status, 0) << jobqd->Log();
}

}  // namespace
}  // namespace jobq::testing
