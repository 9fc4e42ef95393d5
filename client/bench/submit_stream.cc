#include "client/bench/submit_stream.h"

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/bench/jobs.h"

namespace jobq::bench {
namespace {

// One SubmitStream: writes `n` requests, at most `window` unacknowledged,
// and times each from its write to its ack.
class StreamRun final
    : public grpc::ClientBidiReactor<v1::SubmitRequest,
                                     v1::SubmitStreamResponse> {
 public:
  StreamRun(client::Client& c, const Options& o, uint64_t n,
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
      for (const auto& e : resp_.events()) RecordEndLocked(e);
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
  // With mu_ and *r_mu_ held: times a watched job that has ended.
  void RecordEndLocked(const v1::JobEvent& e) {
    if (e.state() != v1::JOB_STATE_SUCCEEDED &&
        e.state() != v1::JOB_STATE_DEAD &&
        e.state() != v1::JOB_STATE_CANCELLED) {
      return;
    }
    auto it = index_of_.find(e.job_id());
    if (it == index_of_.end()) return;
    r_->done_us.Record(MicrosSince(sent_at_[it->second]));
    if (e.state() != v1::JOB_STATE_SUCCEEDED) ++r_->errors;
    index_of_.erase(it);
    ++completed_;
  }

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

}  // namespace

Result Stream(client::Client& c, const Options& o) {
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

void AddStreamFlags(CLI::App& command, Options& o) {
  command.add_option("--streams", o.streams, "SubmitStream streams")
      ->capture_default_str();
  command.add_option("--window", o.window, "unacked requests per stream")
      ->capture_default_str();
  command.add_option("--payload", o.payload, "payload bytes")
      ->capture_default_str();
}

}  // namespace jobq::bench
