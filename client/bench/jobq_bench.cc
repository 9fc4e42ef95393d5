// jobq-bench: load generator for jobqd, in the manner of redis-benchmark
// and ghz. It starts nothing itself; point it at a running jobqd.
//
//   jobq-bench [--addr A] [--json] ingest [--path submit|batch|stream|all]
//              [--count N] [--concurrency C] [--batch B] [--streams M]
//              [--payload BYTES] [--queues Q] [--priorities P]
//   jobq-bench e2e [--count N] [--streams M] [--remote [--workers W]
//                  [--worker-concurrency C]]
//   jobq-bench latency [--rate R] [--duration S]
//   jobq-bench fanout [--count N] [--sleep D]
//   jobq-bench memory [--count N] [--payload BYTES]
//   jobq-bench watchers [--watchers W] [--reading] [--duration S]
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/connect_flags.h"
#include "client/worker.h"
#include "common/histogram.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = jobq::v1;

struct Options {
  std::string addr = "127.0.0.1:7070";
  bool json = false;
  uint64_t count = 200'000;
  int concurrency = 64;
  int batch = 1000;
  int streams = 4;
  int window = 4096;
  size_t payload = 64;
  int queues = 1;
  int priorities = 1;
  bool watch = false;        // Stream paths: also wait for each SUCCEEDED.
  double rate = 5000;        // latency: jobs per second.
  double duration = 5;       // latency: seconds.
  std::string sleep = "1s";  // fanout: each job's sleep.
  int watchers = 2000;       // watchers: Watch streams on the loaded queue.
  bool reading = false;      // watchers: they read (or stall after opening).
  double producer_rate = 0;  // watchers: jobs/s to the watched queue; 0: max.
  std::string kind = "noop";
  bool remote = false;            // e2e: run the jobs on remote workers.
  int remote_workers = 1;         // Their streams (in this process).
  int remote_concurrency = 1000;  // Jobs each holds at once.
  jobq::client::TlsOptions tls;
  std::string token_file;
  std::string token;  // From token_file or $JOBQ_TOKEN.
};

// The outcome of one scenario.
struct Result {
  std::string name;
  uint64_t jobs = 0;
  uint64_t errors = 0;
  double seconds = 0;
  jobq::Histogram ack_us;   // Submit-to-ack latency.
  jobq::Histogram done_us;  // Submit-to-completion latency (when watched).
};

int64_t MicrosSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                               t0)
      .count();
}

v1::JobSpec MakeJob(const Options& o, uint64_t i) {
  v1::JobSpec s;
  s.set_kind(o.kind);
  s.set_queue(absl::StrCat("bench", i % static_cast<uint64_t>(o.queues)));
  s.set_priority(static_cast<int32_t>(i % static_cast<uint64_t>(o.priorities)));
  s.set_payload(std::string(o.payload, 'x'));
  return s;
}

// A queue name of its own for one run, so that earlier runs' jobs do not
// count.
std::string FreshQueue(const std::string& prefix) {
  return absl::StrCat(
      prefix,
      std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

// Keeps `concurrency` unary calls in flight until `calls` have completed.
// `start(i, done)` issues call i and must call `done(ok)` when it ends.
void RunInFlight(
    uint64_t calls, int concurrency,
    const std::function<void(uint64_t, std::function<void(bool)>)>& start,
    Result* r, uint64_t jobs_per_call) {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t issued = 0, completed = 0;
  std::function<void(uint64_t)> issue = [&](uint64_t i) {
    auto t0 = Clock::now();
    start(i, [&, t0](bool ok) {
      int64_t us = MicrosSince(t0);
      uint64_t next = 0;
      bool more = false;
      {
        std::lock_guard lock(mu);
        r->ack_us.Record(us);
        if (!ok) ++r->errors;
        ++completed;
        if (issued < calls) {
          next = issued++;
          more = true;
        }
        if (completed == calls) cv.notify_all();
      }
      if (more) issue(next);
    });
  };
  auto t0 = Clock::now();
  uint64_t first =
      std::min<uint64_t>(calls, static_cast<uint64_t>(concurrency));
  {
    std::lock_guard lock(mu);
    issued = first;
  }
  for (uint64_t i = 0; i < first; ++i) issue(i);
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return completed == calls; });
  r->seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r->jobs = calls * jobs_per_call;
}

Result IngestSubmit(jobq::client::Client& c, const Options& o) {
  Result r;
  r.name = absl::StrCat("ingest/submit (", o.concurrency, " in flight)");
  struct Call {
    grpc::ClientContext ctx;
    v1::SubmitRequest req;
    v1::SubmitResponse resp;
  };
  RunInFlight(
      o.count, o.concurrency,
      [&](uint64_t i, std::function<void(bool)> done) {
        auto* call = new Call;
        *call->req.mutable_job() = MakeJob(o, i);
        c.jobs().async()->Submit(&call->ctx, &call->req, &call->resp,
                                 [call, done](grpc::Status s) {
                                   delete call;
                                   done(s.ok());
                                 });
      },
      &r, 1);
  return r;
}

Result IngestBatch(jobq::client::Client& c, const Options& o) {
  Result r;
  r.name = absl::StrCat("ingest/batch (", o.batch, " per call, ", o.concurrency,
                        " in flight)");
  struct Call {
    grpc::ClientContext ctx;
    v1::SubmitBatchRequest req;
    v1::SubmitBatchResponse resp;
  };
  // One request, built once, sent many times.
  v1::SubmitBatchRequest proto;
  for (int k = 0; k < o.batch; ++k)
    *proto.add_jobs() = MakeJob(o, static_cast<uint64_t>(k));
  uint64_t calls =
      std::max<uint64_t>(1, o.count / static_cast<uint64_t>(o.batch));
  RunInFlight(
      calls, o.concurrency,
      [&](uint64_t, std::function<void(bool)> done) {
        auto* call = new Call;
        call->req = proto;
        c.jobs().async()->SubmitBatch(
            &call->ctx, &call->req, &call->resp, [call, done](grpc::Status s) {
              bool ok = s.ok();
              for (const auto& res : call->resp.results())
                ok = ok && res.code() == 0;
              delete call;
              done(ok);
            });
      },
      &r, static_cast<uint64_t>(o.batch));
  return r;
}

// One SubmitStream: writes `n` requests, at most `window` unacknowledged,
// and times each from its write to its ack.
class StreamRun final
    : public grpc::ClientBidiReactor<v1::SubmitRequest,
                                     v1::SubmitStreamResponse> {
 public:
  StreamRun(jobq::client::Client& c, const Options& o, uint64_t n,
            uint64_t first_index, Result* r, std::mutex* r_mu)
      : o_(o), n_(n), first_(first_index), r_(r), r_mu_(r_mu), sent_at_(n) {
    c.jobs().async()->SubmitStream(&ctx_, this);
    StartRead(&resp_);
    AddHold();  // Released when the last write is done.
    bool write = PrepareWrite();
    StartCall();
    if (write) StartWrite(&req_);
  }

  void OnWriteDone(bool ok) override {
    bool write = false, finish = false;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok) {
        finish = true;
      } else {
        write = PrepareWriteLocked();
        finish = !write && next_ == n_;
      }
      if (finish) finished_writes_ = true;
    }
    if (write) StartWrite(&req_);
    if (finish) {
      StartWritesDone();
      RemoveHold();
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    bool write = false;
    {
      std::lock_guard lock(mu_);
      std::lock_guard rl(*r_mu_);
      for (const auto& ack : resp_.acks()) {
        uint64_t i = ack.client_ref() - first_;
        r_->ack_us.Record(MicrosSince(sent_at_[i]));
        if (ack.result().code() != 0) ++r_->errors;
        if (o_.watch) index_of_[ack.result().job_id()] = i;
        ++acked_;
      }
      for (const auto& e : resp_.events()) {
        if (e.state() != v1::JOB_STATE_SUCCEEDED &&
            e.state() != v1::JOB_STATE_DEAD &&
            e.state() != v1::JOB_STATE_CANCELLED) {
          continue;
        }
        auto it = index_of_.find(e.job_id());
        if (it == index_of_.end()) continue;
        r_->done_us.Record(MicrosSince(sent_at_[it->second]));
        if (e.state() != v1::JOB_STATE_SUCCEEDED) ++r_->errors;
        index_of_.erase(it);
        ++completed_;
      }
      if (!finished_writes_) write = PrepareWriteLocked();
    }
    if (write) StartWrite(&req_);
    StartRead(&resp_);
  }

  void OnDone(const grpc::Status& s) override {
    std::lock_guard lock(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }

  grpc::Status Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    return status_;
  }
  uint64_t acked() {
    std::lock_guard lock(mu_);
    return acked_;
  }
  uint64_t completed() {
    std::lock_guard lock(mu_);
    return completed_;
  }

 private:
  bool PrepareWrite() {
    std::lock_guard lock(mu_);
    return PrepareWriteLocked();
  }
  // With mu_ held: fills req_ with the next request if one may go now.
  bool PrepareWriteLocked() {
    if (writing_ || next_ >= n_ ||
        next_ - acked_ >= static_cast<uint64_t>(o_.window)) {
      return false;
    }
    *req_.mutable_job() = MakeJob(o_, first_ + next_);
    req_.set_client_ref(first_ + next_);
    req_.set_watch(o_.watch);
    if (o_.watch && req_.watch_states_size() == 0) {
      // Only the ends: a third of the events of a full watch.
      req_.add_watch_states(v1::JOB_STATE_SUCCEEDED);
      req_.add_watch_states(v1::JOB_STATE_DEAD);
      req_.add_watch_states(v1::JOB_STATE_CANCELLED);
    }
    sent_at_[next_] = Clock::now();
    ++next_;
    writing_ = true;
    return true;
  }

  const Options& o_;
  const uint64_t n_, first_;
  Result* r_;
  std::mutex* r_mu_;
  grpc::ClientContext ctx_;
  v1::SubmitRequest req_;
  v1::SubmitStreamResponse resp_;
  std::vector<Clock::time_point> sent_at_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_ = 0, acked_ = 0, completed_ = 0;
  std::unordered_map<std::string, uint64_t> index_of_;  // Watched, not done.
  bool writing_ = false, finished_writes_ = false, done_ = false;
  grpc::Status status_;
};

Result Stream(jobq::client::Client& c, const Options& o) {
  Result r;
  r.name = absl::StrCat(o.watch ? "e2e/stream" : "ingest/stream", " (",
                        o.streams, " streams, window ", o.window, ")");
  std::mutex r_mu;
  uint64_t per = o.count / static_cast<uint64_t>(o.streams);
  auto t0 = Clock::now();
  std::vector<std::unique_ptr<StreamRun>> runs;
  for (int s = 0; s < o.streams; ++s) {
    runs.push_back(std::make_unique<StreamRun>(
        c, o, per, per * static_cast<uint64_t>(s), &r, &r_mu));
  }
  for (auto& run : runs) {
    grpc::Status s = run->Wait();
    if (!s.ok()) {
      std::fprintf(stderr, "stream ended: %s\n", s.error_message().c_str());
      ++r.errors;
    }
    r.jobs += o.watch ? run->completed() : run->acked();
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

// Open loop: one SubmitStream with watch, sending at a fixed rate whatever
// the answers do; latency counts from the time each job was due, so a
// stall is not hidden (no coordinated omission).
Result Latency(jobq::client::Client& c, const Options& o) {
  Result r;
  r.name = absl::StrCat("latency (", o.rate, " jobs/s open loop)");
  uint64_t n = static_cast<uint64_t>(o.rate * o.duration);
  grpc::ClientContext ctx;
  auto stream = c.jobs().SubmitStream(&ctx);
  std::vector<Clock::time_point> due(n);
  std::mutex mu;
  std::unordered_map<std::string, uint64_t> index_of;
  std::thread reader([&] {
    v1::SubmitStreamResponse resp;
    while (stream->Read(&resp)) {
      std::lock_guard lock(mu);
      for (const auto& ack : resp.acks()) {
        r.ack_us.Record(MicrosSince(due[ack.client_ref()]));
        if (ack.result().code() != 0) ++r.errors;
        index_of[ack.result().job_id()] = ack.client_ref();
      }
      for (const auto& e : resp.events()) {
        if (e.state() != v1::JOB_STATE_SUCCEEDED) continue;
        auto it = index_of.find(e.job_id());
        if (it == index_of.end()) continue;
        r.done_us.Record(MicrosSince(due[it->second]));
        index_of.erase(it);
        ++r.jobs;
      }
    }
  });
  auto t0 = Clock::now();
  auto step = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / o.rate));
  v1::SubmitRequest req;
  req.set_watch(true);
  req.add_watch_states(v1::JOB_STATE_SUCCEEDED);
  for (uint64_t i = 0; i < n; ++i) {
    {
      std::lock_guard lock(mu);
      due[i] = t0 + step * static_cast<int64_t>(i);
    }
    std::this_thread::sleep_until(due[i]);
    *req.mutable_job() = MakeJob(o, i);
    req.set_client_ref(i);
    if (!stream->Write(req)) break;
  }
  stream->WritesDone();
  reader.join();
  grpc::Status s = stream->Finish();
  if (!s.ok()) ++r.errors;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

// N sleep jobs at once: the wall time from the first submit to the last
// completion, against the sleep itself.
Result Fanout(jobq::client::Client& c, const Options& o) {
  Result r;
  r.name = absl::StrCat("fanout (", o.count, " x sleep ", o.sleep, ")");
  std::string queue = FreshQueue("fanout-");
  grpc::ClientContext ctx;
  v1::WatchRequest watch;
  watch.set_queue(queue);
  watch.add_states(v1::JOB_STATE_SUCCEEDED);
  watch.add_states(v1::JOB_STATE_DEAD);
  auto events = c.jobs().Watch(&ctx, watch);
  v1::WatchResponse msg;
  if (!events->Read(&msg)) {  // The watch is in place.
    ++r.errors;
    return r;
  }
  auto t0 = Clock::now();
  std::thread producer([&] {
    v1::JobSpec spec;
    spec.set_kind("sleep");
    spec.set_queue(queue);
    spec.set_payload(o.sleep);
    for (uint64_t sent = 0; sent < o.count;) {
      uint64_t n = std::min<uint64_t>(10'000, o.count - sent);
      std::vector<v1::JobSpec> batch(n, spec);
      auto resp = c.SubmitBatch(batch);
      if (!resp.ok()) break;
      sent += n;
    }
  });
  while (r.jobs < o.count && events->Read(&msg)) {
    for (const auto& e : msg.events()) {
      if (e.state() == v1::JOB_STATE_SUCCEEDED) {
        ++r.jobs;
        r.done_us.Record(MicrosSince(t0));
      } else if (e.state() == v1::JOB_STATE_DEAD) {
        ++r.errors;
      }
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  producer.join();
  ctx.TryCancel();
  grpc::Status s = events->Finish();
  if (r.jobs < o.count) {
    // The watch ended early: a jobqd whose --stream-buffer is smaller than
    // the burst of events cuts it off.
    std::fprintf(stderr, "fanout: watch ended after %llu jobs: %s\n",
                 static_cast<unsigned long long>(r.jobs),
                 s.error_message().c_str());
    r.errors += o.count - r.jobs;
  }
  return r;
}

// Queues N jobs into a paused queue and reports the server's resident
// memory per job; then runs them all and reports the memory again.
int Memory(jobq::client::Client& c, const Options& o) {
  std::string queue = FreshQueue("memory-");
  if (auto s = c.PauseQueue(queue); !s.ok()) {
    std::fprintf(stderr, "memory: %s\n",
                 std::string(s.status().message()).c_str());
    return 1;
  }
  auto before = c.GetStats();
  if (!before.ok()) return 1;
  v1::JobSpec spec = MakeJob(o, 0);
  spec.set_queue(queue);
  // Resident memory is read at half way too: the growth over the second
  // half is the cost of a queued job, without the fixed cost of the first
  // calls (gRPC buffers, the allocator's working set for a batch).
  const uint64_t half = o.count / 2;
  absl::StatusOr<v1::GetStatsResponse> at_half;
  for (uint64_t sent = 0; sent < o.count;) {
    if (sent == half) at_half = c.GetStats();
    uint64_t limit = sent < half ? half : o.count;
    uint64_t n = std::min<uint64_t>(10'000, limit - sent);
    auto resp = c.SubmitBatch(std::vector<v1::JobSpec>(n, spec));
    if (!resp.ok()) {
      std::fprintf(stderr, "memory: %s\n",
                   std::string(resp.status().message()).c_str());
      return 1;
    }
    sent += n;
  }
  if (half == 0) at_half = before;
  if (!at_half.ok()) return 1;
  auto queued = c.GetStats();
  if (!queued.ok()) return 1;
  // Run them all; poll until the queue has finished them (a watch of half
  // a million completions would only test the stream buffer).
  uint64_t done = 0;
  if (c.ResumeQueue(queue).ok()) {
    auto deadline = Clock::now() + std::chrono::minutes(10);
    while (done < o.count && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto s = c.GetStats();
      if (!s.ok()) break;
      for (const auto& q : s->queues()) {
        if (q.name() == queue) done = q.completed_total();
      }
    }
  }
  auto drained = c.GetStats();
  if (!drained.ok()) return 1;
  double mib = 1024.0 * 1024.0;
  auto rss = [](const v1::GetStatsResponse& s) {
    return static_cast<double>(s.resident_memory_bytes());
  };
  double per_job = (rss(*queued) - rss(*at_half)) /
                   static_cast<double>(std::max<uint64_t>(1, o.count - half));
  double overall = (rss(*queued) - rss(*before)) / static_cast<double>(o.count);
  if (o.json) {
    std::printf(
        "{\"scenario\":\"memory\",\"jobs\":%llu,\"payload\":%zu,"
        "\"bytes_per_queued_job\":%.0f,\"bytes_per_job_overall\":%.0f,"
        "\"rss_before\":%llu,"
        "\"rss_queued\":%llu,\"rss_drained\":%llu,\"jobs_held_drained\":%llu,"
        "\"completed\":%llu}\n",
        static_cast<unsigned long long>(o.count), o.payload, per_job, overall,
        static_cast<unsigned long long>(before->resident_memory_bytes()),
        static_cast<unsigned long long>(queued->resident_memory_bytes()),
        static_cast<unsigned long long>(drained->resident_memory_bytes()),
        static_cast<unsigned long long>(drained->jobs_held()),
        static_cast<unsigned long long>(done));
  } else {
    std::printf(
        "%-48s %9.0f bytes/job (%.0f with the fixed cost)  rss %.1f -> %.1f "
        "MiB queued, %.1f MiB after running them (%llu jobs still held)\n",
        absl::StrCat("memory (", o.count, " queued ", o.payload, "-byte jobs)")
            .c_str(),
        per_job, overall, before->resident_memory_bytes() / mib,
        queued->resident_memory_bytes() / mib,
        drained->resident_memory_bytes() / mib,
        static_cast<unsigned long long>(drained->jobs_held()));
  }
  return done == o.count ? 0 : 1;
}

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

// W watchers on one queue (reading, or stalled after their first message)
// while a producer floods that queue for S seconds and a prober submits,
// one call at a time, to another queue. Prints the producer's rate, the
// prober's latency, jobqd's peak resident memory, how the watches ended,
// and the resident memory once they have all closed.
int Watchers(const Options& o) {
  std::string queue = FreshQueue("watched-");
  std::string other = FreshQueue("other-");
  // 100 streams per connection, each its own (jobqd limits streams per
  // connection).
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::JobService::Stub>> stubs;
  int per_channel = 100;
  for (int i = 0; i * per_channel < o.watchers; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("jobq.bench.connection", i);
    args.SetMaxReceiveMessageSize(-1);
    channels.push_back(grpc::CreateCustomChannel(
        o.addr, grpc::InsecureChannelCredentials(), args));
    stubs.push_back(v1::JobService::NewStub(channels.back()));
  }
  auto main_channel = jobq::client::MakeChannel(o.addr, o.tls, o.token);
  if (!main_channel.ok()) return 1;
  jobq::client::Client c(*main_channel);
  // Every call has a deadline: a stalled jobqd must not hang the bench.
  auto call_ctx = [&o](grpc::ClientContext& ctx, int seconds) {
    if (!o.token.empty()) ctx.AddMetadata("authorization", "Bearer " + o.token);
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(seconds));
  };
  auto rss = [&]() -> uint64_t {
    grpc::ClientContext ctx;
    call_ctx(ctx, 2);
    v1::GetStatsRequest req;
    v1::GetStatsResponse resp;
    return c.admin().GetStats(&ctx, req, &resp).ok()
               ? resp.resident_memory_bytes()
               : 0;
  };
  uint64_t rss_before = rss();
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < o.watchers; ++i) {
    watchers.push_back(
        std::make_unique<Watcher>(*stubs[static_cast<size_t>(i / per_channel)],
                                  queue, o.reading, o.token));
  }
  auto open_deadline = Clock::now() + std::chrono::seconds(30);
  for (auto& w : watchers) w->WaitOpened(open_deadline);
  // The producer: batches of 1000 noop jobs, 4 in flight, for the duration.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> produced{0}, producer_errors{0};
  auto t0 = Clock::now();
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&] {
      v1::SubmitBatchRequest req;
      for (int k = 0; k < 1000; ++k) {
        v1::JobSpec* spec = req.add_jobs();
        *spec = MakeJob(o, 0);
        spec->set_queue(queue);
      }
      auto next = Clock::now();
      while (!stop.load()) {
        if (o.producer_rate > 0) {
          // Paced: 4 producers of 1000-job batches make the rate.
          next += std::chrono::nanoseconds(
              static_cast<int64_t>(4 * 1000 * 1e9 / o.producer_rate));
          std::this_thread::sleep_until(next);
        }
        grpc::ClientContext ctx;
        call_ctx(ctx, 10);
        v1::SubmitBatchResponse resp;
        if (c.jobs().SubmitBatch(&ctx, req, &resp).ok()) {
          produced += static_cast<uint64_t>(req.jobs_size());
        } else {
          ++producer_errors;
        }
      }
    });
  }
  // The prober: one Submit at a time to another queue, 5 ms apart.
  Result probe;
  std::thread prober([&] {
    v1::JobSpec spec = MakeJob(o, 0);
    spec.set_queue(other);
    while (!stop.load()) {
      auto p0 = Clock::now();
      grpc::ClientContext ctx;
      call_ctx(ctx, 10);
      v1::SubmitRequest req;
      *req.mutable_job() = spec;
      v1::SubmitResponse resp;
      grpc::Status s = c.jobs().Submit(&ctx, req, &resp);
      probe.ack_us.Record(MicrosSince(p0));
      if (!s.ok()) ++probe.errors;
      ++probe.jobs;
      std::this_thread::sleep_until(p0 + std::chrono::milliseconds(5));
    }
  });
  uint64_t rss_peak = 0;
  auto end = t0 + std::chrono::duration<double>(o.duration);
  while (Clock::now() < end) {
    rss_peak = std::max(rss_peak, rss());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop = true;
  for (auto& t : producers) t.join();
  prober.join();
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  rss_peak = std::max(rss_peak, rss());
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
      produced.load() / seconds,
      static_cast<unsigned long long>(produced.load()), seconds, q(0.5),
      q(0.99), probe.ack_us.Max() / 1000.0,
      static_cast<unsigned long long>(probe.jobs),
      static_cast<unsigned long long>(probe.errors), cut, ended_other,
      o.watchers - cut - ended_other, rss_before / mib, rss_peak / mib);
  std::fflush(stdout);
  // Close the rest, then see the memory come back.
  for (auto& w : watchers) w->Cancel();
  auto close_deadline = Clock::now() + std::chrono::seconds(30);
  for (auto& w : watchers) w->WaitDone(close_deadline);
  uint64_t rss_after = rss();
  for (int i = 0; i < 50 && rss_after > rss_before + (32u << 20); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rss_after = rss();
  }
  int still_open = 0;
  for (auto& w : watchers) still_open += w->done() ? 0 : 1;
  std::printf("%-48s rss %.1f MiB once the watches closed (%d did not)\n",
              "watchers: after close", rss_after / mib, still_open);
  // A call still open must outlive its reactor: leave those.
  for (auto& w : watchers) {
    if (!w->done()) (void)w.release();
  }
  return probe.errors + producer_errors.load() > 0 ? 1 : 0;
}

void Print(const Result& r, bool json) {
  double rate = r.seconds > 0 ? r.jobs / r.seconds : 0;
  auto q = [&](double p) { return r.ack_us.Quantile(p) / 1000.0; };
  auto d = [&](double p) { return r.done_us.Quantile(p) / 1000.0; };
  if (json) {
    std::printf(
        "{\"scenario\":\"%s\",\"jobs\":%llu,\"errors\":%llu,\"seconds\":%.3f,"
        "\"jobs_per_second\":%.0f,\"ack_ms\":{\"p50\":%.3f,\"p90\":%.3f,"
        "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},\"done_ms\":{\"p50\":%.3f,"
        "\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}}\n",
        r.name.c_str(), static_cast<unsigned long long>(r.jobs),
        static_cast<unsigned long long>(r.errors), r.seconds, rate, q(0.5),
        q(0.9), q(0.99), q(0.999), r.ack_us.Max() / 1000.0, d(0.5), d(0.9),
        d(0.99), d(0.999), r.done_us.Max() / 1000.0);
    return;
  }
  std::printf("%-48s %9.0f jobs/s  %8llu jobs in %6.2f s", r.name.c_str(), rate,
              static_cast<unsigned long long>(r.jobs), r.seconds);
  if (r.ack_us.Count() > 0) {
    std::printf("  ack ms p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f",
                q(0.5), q(0.9), q(0.99), q(0.999), r.ack_us.Max() / 1000.0);
  }
  if (r.done_us.Count() > 0) {
    std::printf("  done ms p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f",
                d(0.5), d(0.9), d(0.99), d(0.999), r.done_us.Max() / 1000.0);
  }
  if (r.errors > 0) {
    std::printf("  ERRORS %llu", static_cast<unsigned long long>(r.errors));
  }
  std::printf("\n");
}

// Runs `scenario` while this process serves o.kind as remote workers
// whose handler succeeds at once.
Result WithRemoteWorkers(const Options& o,
                         const std::function<Result()>& scenario) {
  std::vector<std::unique_ptr<jobq::client::Worker>> workers;
  std::vector<std::thread> threads;
  for (int i = 0; i < o.remote_workers; ++i) {
    jobq::client::WorkerOptions wo;
    wo.kinds = {o.kind};
    wo.concurrency = o.remote_concurrency;
    wo.threads = 0;  // The handler returns at once: run it inline.
    workers.push_back(std::make_unique<jobq::client::Worker>(
        *jobq::client::MakeChannel(o.addr, o.tls, o.token), wo,
        [](jobq::client::WorkerJob&) {
          return jobq::client::Outcome::Success();
        }));
    threads.emplace_back([w = workers.back().get()] {
      absl::Status s = w->Run();
      if (!s.ok()) {
        std::fprintf(stderr, "worker: %s\n", std::string(s.message()).c_str());
      }
    });
  }
  Result r;
  bool ready = true;
  for (auto& w : workers) {
    ready = ready && w->WaitWelcomed(std::chrono::seconds(10));
  }
  if (ready) {
    r = scenario();
  } else {
    r.name = "e2e/remote";
    r.errors = 1;
    std::fprintf(stderr, "jobq-bench: remote workers were not welcomed\n");
  }
  for (auto& w : workers) w->Stop();
  for (auto& t : threads) t.join();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jobq-bench: load generator for jobqd"};
  app.require_subcommand(1);
  Options o;
  if (const char* a = std::getenv("JOBQ_ADDR")) o.addr = a;
  app.add_option("--addr", o.addr, "jobqd address (env JOBQ_ADDR)")
      ->capture_default_str();
  app.add_flag("--json", o.json, "one JSON object per scenario");
  jobq::client::AddConnectFlags(app, &o.tls, &o.token_file);

  auto* ingest =
      app.add_subcommand("ingest", "submit noop jobs as fast as possible");
  std::string path = "all";
  ingest->add_option("--path", path, "submit, batch, stream or all")
      ->capture_default_str();
  ingest->add_option("--count,-n", o.count, "jobs per path")
      ->capture_default_str();
  ingest->add_option("--concurrency,-c", o.concurrency, "calls in flight")
      ->capture_default_str();
  ingest->add_option("--batch,-b", o.batch, "jobs per SubmitBatch")
      ->capture_default_str();
  ingest->add_option("--streams", o.streams, "SubmitStream streams")
      ->capture_default_str();
  ingest->add_option("--window", o.window, "unacked requests per stream")
      ->capture_default_str();
  ingest->add_option("--payload", o.payload, "payload bytes")
      ->capture_default_str();
  ingest->add_option("--queues", o.queues, "queues to spread jobs over")
      ->capture_default_str();
  ingest->add_option("--priorities", o.priorities, "distinct priorities")
      ->capture_default_str();
  auto* e2e = app.add_subcommand(
      "e2e", "submit noop jobs on streams and wait for each one's SUCCEEDED");
  e2e->add_option("--count,-n", o.count, "jobs")->capture_default_str();
  e2e->add_option("--streams", o.streams, "SubmitStream streams")
      ->capture_default_str();
  e2e->add_option("--window", o.window, "unacked requests per stream")
      ->capture_default_str();
  e2e->add_option("--payload", o.payload, "payload bytes")
      ->capture_default_str();
  e2e->add_flag("--remote", o.remote,
                "run the jobs on remote workers (WorkerService streams of "
                "this process) instead of jobqd's built-in noop");
  e2e->add_option("--workers", o.remote_workers, "remote worker streams")
      ->capture_default_str();
  e2e->add_option("--worker-concurrency", o.remote_concurrency,
                  "jobs each remote worker holds at once")
      ->capture_default_str();
  auto* latency = app.add_subcommand(
      "latency", "open-loop fixed rate: submit-to-ack and submit-to-done");
  latency->add_option("--rate", o.rate, "jobs per second")
      ->capture_default_str();
  latency->add_option("--duration", o.duration, "seconds")
      ->capture_default_str();
  latency->add_option("--payload", o.payload, "payload bytes")
      ->capture_default_str();
  auto* fanout = app.add_subcommand(
      "fanout", "N sleep jobs at once: wall time to the last completion");
  fanout->add_option("--count,-n", o.count, "jobs")->capture_default_str();
  fanout->add_option("--sleep", o.sleep, "each job's sleep")
      ->capture_default_str();
  auto* memory = app.add_subcommand(
      "memory", "server memory per queued job, and after running them");
  memory->add_option("--count,-n", o.count, "jobs")->capture_default_str();
  memory->add_option("--payload", o.payload, "payload bytes")
      ->capture_default_str();
  auto* watchers = app.add_subcommand(
      "watchers",
      "W watchers on a flooded queue: producer rate, another queue's "
      "submit latency, jobqd memory, cut-offs");
  watchers->add_option("--watchers,-w", o.watchers, "Watch streams")
      ->capture_default_str();
  watchers->add_flag("--reading", o.reading,
                     "the watchers read (otherwise they stop after the first "
                     "message)");
  watchers
      ->add_option("--rate", o.producer_rate,
                   "jobs per second to the watched queue (0: flat out)")
      ->capture_default_str();
  watchers->add_option("--duration", o.duration, "seconds of load")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (o.concurrency < 1 || o.batch < 1 || o.streams < 1 || o.queues < 1 ||
      o.priorities < 1 || o.window < 1) {
    std::fprintf(stderr, "jobq-bench: counts must be at least 1\n");
    return 2;
  }
  auto token = jobq::client::ResolveToken(o.token_file);
  if (!token.ok()) {
    std::fprintf(stderr, "jobq-bench: %s\n",
                 std::string(token.status().message()).c_str());
    return 2;
  }
  o.token = *token;
  auto channel = jobq::client::MakeChannel(o.addr, o.tls, o.token);
  if (!channel.ok()) {
    std::fprintf(stderr, "jobq-bench: %s\n",
                 std::string(channel.status().message()).c_str());
    return 2;
  }
  jobq::client::Client client(*channel);
  // Waits (bounded) for SERVING with wait-for-ready rather than failing on
  // the first connection attempt: gRPC 1.51's client can report an attempt
  // still in progress as failed (it reads errno after other calls in
  // tcp_client_posix.cc), which a single health call turns into "failed to
  // connect to all addresses ... No such file or directory".
  if (auto s = client.WaitUntilServing(10'000); !s.ok()) {
    std::fprintf(stderr, "jobq-bench: %s: %s\n", o.addr.c_str(),
                 std::string(s.message()).c_str());
    return 1;
  }
  int failed = 0;
  auto run = [&](const Result& r) {
    Print(r, o.json);
    std::fflush(stdout);
    if (r.errors > 0) failed = 1;
  };
  if (ingest->parsed()) {
    if (path == "submit" || path == "all") run(IngestSubmit(client, o));
    if (path == "batch" || path == "all") run(IngestBatch(client, o));
    if (path == "stream" || path == "all") run(Stream(client, o));
  }
  if (e2e->parsed()) {
    o.watch = true;
    if (o.remote) {
      if (o.remote_workers < 1 || o.remote_concurrency < 1) {
        std::fprintf(stderr, "jobq-bench: counts must be at least 1\n");
        return 2;
      }
      o.kind = "bench.remote";
      Result r = WithRemoteWorkers(o, [&] { return Stream(client, o); });
      r.name += absl::StrCat(" on ", o.remote_workers, " remote workers x ",
                             o.remote_concurrency);
      run(r);
    } else {
      run(Stream(client, o));
    }
  }
  if (latency->parsed()) {
    if (o.rate <= 0 || o.duration <= 0) {
      std::fprintf(stderr,
                   "jobq-bench: --rate and --duration must be positive\n");
      return 2;
    }
    run(Latency(client, o));
  }
  if (fanout->parsed()) run(Fanout(client, o));
  if (memory->parsed() && Memory(client, o) != 0) failed = 1;
  if (watchers->parsed() && Watchers(o) != 0) failed = 1;
  return failed;
}
