// watchers: W Watch streams on one queue (reading, or stalled after their
// first message) while a producer floods that queue and a prober submits,
// one call at a time, to another queue.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/bench/connection.h"
#include "client/bench/jobs.h"
#include "client/bench/report.h"
#include "client/bench/scenario.h"

namespace jobq::bench {
namespace {

// One Watch of a queue. It reads the first message (the watch is in
// place) and then reads on only when `reading`.
class Watcher final : public grpc::ClientReadReactor<v1::WatchResponse> {
 public:
  Watcher(v1::JobService::Stub& stub, const std::string& queue, bool reading,
          const std::string& token)
      : reading_(reading) {
    if (!token.empty()) ctx_.AddMetadata("authorization", "Bearer " + token);
    v1::WatchRequest req;
    req.set_queue(queue);
    stub.async()->Watch(&ctx_, &req, this);
    StartRead(&resp_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      std::lock_guard lock(mu_);
      opened_ = true;
      events_ += static_cast<uint64_t>(resp_.events_size());
    }
    cv_.notify_all();
    if (reading_) StartRead(&resp_);
  }
  void OnDone(const grpc::Status& s) override {
    std::lock_guard lock(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }
  // True once open (or ended) before `deadline`.
  bool WaitOpened(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return opened_ || done_; });
  }
  bool WaitDone(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return done_; });
  }
  void Cancel() { ctx_.TryCancel(); }
  bool done() {
    std::lock_guard lock(mu_);
    return done_;
  }
  grpc::StatusCode code() {
    std::lock_guard lock(mu_);
    return status_.error_code();
  }

 private:
  const bool reading_;
  grpc::ClientContext ctx_;
  v1::WatchResponse resp_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool opened_ = false, done_ = false;
  uint64_t events_ = 0;
  grpc::Status status_;
};

// Opens o.watchers watches of `queue`, 100 streams per connection, each
// connection its own (jobqd limits streams per connection), and waits (at
// most 30 s) for them to be in place. The stubs must outlive the watches.
std::vector<std::unique_ptr<Watcher>> OpenWatchers(
    const Options& o, const std::string& queue,
    std::vector<std::unique_ptr<v1::JobService::Stub>>* stubs) {
  int per_channel = 100;
  for (int i = 0; i * per_channel < o.watchers; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("jobq.bench.connection", i);
    args.SetMaxReceiveMessageSize(-1);
    stubs->push_back(v1::JobService::NewStub(grpc::CreateCustomChannel(
        o.addr, grpc::InsecureChannelCredentials(), args)));
  }
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < o.watchers; ++i) {
    watchers.push_back(std::make_unique<Watcher>(
        *(*stubs)[static_cast<size_t>(i / per_channel)], queue, o.reading,
        o.token));
  }
  auto open_deadline = Clock::now() + std::chrono::seconds(30);
  for (auto& w : watchers) w->WaitOpened(open_deadline);
  return watchers;
}

// The load while the watches are open, running until `stop`.
struct Load {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> produced{0}, producer_errors{0};
  Result probe;  // Written by the prober alone until it is joined.
  std::vector<std::thread> threads;
};

// The producer: 4 threads sending batches of 1000 noop jobs to `queue`,
// paced to o.producer_rate when it is set.
void StartProducers(client::Client& c, const Options& o,
                    const std::string& queue, Load* load) {
  for (int p = 0; p < 4; ++p) {
    load->threads.emplace_back([&c, &o, queue, load] {
      v1::SubmitBatchRequest req;
      for (int k = 0; k < 1000; ++k) {
        v1::JobSpec* spec = req.add_jobs();
        *spec = MakeJob(o, 0);
        spec->set_queue(queue);
      }
      auto next = Clock::now();
      while (!load->stop.load()) {
        if (o.producer_rate > 0) {
          // Paced: 4 producers of 1000-job batches make the rate.
          next += std::chrono::nanoseconds(
              static_cast<int64_t>(4 * 1000 * 1e9 / o.producer_rate));
          std::this_thread::sleep_until(next);
        }
        grpc::ClientContext ctx;
        PrepareCall(ctx, o, 10);
        v1::SubmitBatchResponse resp;
        if (c.jobs().SubmitBatch(&ctx, req, &resp).ok()) {
          load->produced += static_cast<uint64_t>(req.jobs_size());
        } else {
          ++load->producer_errors;
        }
      }
    });
  }
}

// The prober: one Submit at a time to `other`, 5 ms apart.
void StartProber(client::Client& c, const Options& o, const std::string& other,
                 Load* load) {
  load->threads.emplace_back([&c, &o, other, load] {
    v1::JobSpec spec = MakeJob(o, 0);
    spec.set_queue(other);
    while (!load->stop.load()) {
      auto p0 = Clock::now();
      grpc::ClientContext ctx;
      PrepareCall(ctx, o, 10);
      v1::SubmitRequest req;
      *req.mutable_job() = spec;
      v1::SubmitResponse resp;
      grpc::Status s = c.jobs().Submit(&ctx, req, &resp);
      load->probe.ack_us.Record(MicrosSince(p0));
      if (!s.ok()) ++load->probe.errors;
      ++load->probe.jobs;
      std::this_thread::sleep_until(p0 + std::chrono::milliseconds(5));
    }
  });
}

// jobqd's resident memory, 0 when it does not answer within 2 s.
uint64_t ServerRss(client::Client& c, const Options& o) {
  grpc::ClientContext ctx;
  PrepareCall(ctx, o, 2);
  v1::GetStatsRequest req;
  v1::GetStatsResponse resp;
  return c.admin().GetStats(&ctx, req, &resp).ok()
             ? resp.resident_memory_bytes()
             : 0;
}

void PrintLoad(const Options& o, const Load& load, double seconds,
               const std::vector<std::unique_ptr<Watcher>>& watchers,
               uint64_t rss_before, uint64_t rss_peak) {
  int cut = 0, ended_other = 0;
  for (auto& w : watchers) {
    if (!w->done()) continue;
    if (w->code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++cut;
    } else {
      ++ended_other;
    }
  }
  double mib = 1024.0 * 1024.0;
  const Result& probe = load.probe;
  auto q = [&](double p) { return probe.ack_us.Quantile(p) / 1000.0; };
  std::printf(
      "%-48s %9.0f jobs/s  %8llu jobs in %6.2f s  other queue submit ms p50 "
      "%.3f p99 %.3f max %.3f (%llu calls, %llu failed)  watches cut %d, "
      "ended otherwise %d, open %d  rss %.1f -> peak %.1f MiB\n",
      absl::StrCat(
          "watchers (", o.watchers, o.reading ? " reading" : " not reading",
          o.producer_rate > 0 ? absl::StrCat(", ", o.producer_rate, " jobs/s)")
                              : ")")
          .c_str(),
      load.produced.load() / seconds,
      static_cast<unsigned long long>(load.produced.load()), seconds, q(0.5),
      q(0.99), probe.ack_us.Max() / 1000.0,
      static_cast<unsigned long long>(probe.jobs),
      static_cast<unsigned long long>(probe.errors), cut, ended_other,
      o.watchers - cut - ended_other, rss_before / mib, rss_peak / mib);
  std::fflush(stdout);
}

// Closes the watches that are still open, then sees the memory come back.
void CloseAndReport(client::Client& c, const Options& o,
                    std::vector<std::unique_ptr<Watcher>>& watchers,
                    uint64_t rss_before) {
  for (auto& w : watchers) w->Cancel();
  auto close_deadline = Clock::now() + std::chrono::seconds(30);
  for (auto& w : watchers) w->WaitDone(close_deadline);
  uint64_t rss_after = ServerRss(c, o);
  for (int i = 0; i < 50 && rss_after > rss_before + (32u << 20); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rss_after = ServerRss(c, o);
  }
  int still_open = 0;
  for (auto& w : watchers) still_open += w->done() ? 0 : 1;
  std::printf("%-48s rss %.1f MiB once the watches closed (%d did not)\n",
              "watchers: after close", rss_after / (1024.0 * 1024.0),
              still_open);
  // A call still open must outlive its reactor: leave those.
  for (auto& w : watchers) {
    if (!w->done()) (void)w.release();
  }
}

// Prints the producer's rate, the prober's latency, jobqd's peak resident
// memory, how the watches ended, and the resident memory once they have
// all closed.
int Watchers(const Options& o) {
  std::string queue = FreshQueue("watched-");
  std::string other = FreshQueue("other-");
  auto main_channel = client::MakeChannel(o.addr, o.tls, o.token);
  if (!main_channel.ok()) return 1;
  client::Client c(*main_channel);
  uint64_t rss_before = ServerRss(c, o);
  std::vector<std::unique_ptr<v1::JobService::Stub>> stubs;
  auto watchers = OpenWatchers(o, queue, &stubs);
  Load load;
  auto t0 = Clock::now();
  StartProducers(c, o, queue, &load);
  StartProber(c, o, other, &load);
  uint64_t rss_peak = 0;
  auto end = t0 + std::chrono::duration<double>(o.duration);
  while (Clock::now() < end) {
    rss_peak = std::max(rss_peak, ServerRss(c, o));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  load.stop = true;
  for (auto& t : load.threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  rss_peak = std::max(rss_peak, ServerRss(c, o));
  PrintLoad(o, load, seconds, watchers, rss_before, rss_peak);
  CloseAndReport(c, o, watchers, rss_before);
  return load.probe.errors + load.producer_errors.load() > 0 ? 1 : 0;
}

}  // namespace

void AddWatchers(CLI::App& app, Options& o, ScenarioTable& scenarios) {
  auto* cmd = app.add_subcommand(
      "watchers",
      "W watchers on a flooded queue: producer rate, another queue's "
      "submit latency, jobqd memory, cut-offs");
  cmd->add_option("--watchers,-w", o.watchers, "Watch streams")
      ->capture_default_str();
  cmd->add_flag("--reading", o.reading,
                "the watchers read (otherwise they stop after the first "
                "message)");
  cmd->add_option("--rate", o.producer_rate,
                  "jobs per second to the watched queue (0: flat out)")
      ->capture_default_str();
  cmd->add_option("--duration", o.duration, "seconds of load")
      ->capture_default_str();
  scenarios.Add(cmd, [&o](client::Client&) { return Watchers(o); });
}

}  // namespace jobq::bench
