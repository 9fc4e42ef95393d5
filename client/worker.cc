#include "client/worker.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/failover.h"

namespace jobq::client {
namespace {

// Stream ends after which the worker says hello again: jobqd going away or
// restarting, the network, a twin of its id not yet gone. The others (a
// bad hello, a refused token) would only repeat.
bool Reconnectable(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kAlreadyExists:
      return true;
    default:
      return false;
  }
}

}  // namespace

void WorkerJob::Progress(double fraction, const std::string& message) {
  worker_->AddProgress(*this, fraction, message);
}

Worker::Worker(std::shared_ptr<grpc::Channel> channel, WorkerOptions options,
               Handler handler)
    : Worker(std::make_shared<Cluster>(std::move(channel)), std::move(options),
             std::move(handler)) {}

Worker::Worker(std::shared_ptr<Cluster> cluster, WorkerOptions options,
               Handler handler)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      cluster_(std::move(cluster)) {}

Worker::~Worker() {
  Stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::string Worker::worker_id() const {
  std::lock_guard lock(mu_);
  return worker_id_;
}

bool Worker::WaitWelcomed(std::chrono::milliseconds timeout,
                          uint64_t sessions) {
  std::unique_lock lock(mu_);
  welcome_cv_.wait_for(lock, timeout,
                       [&] { return sessions_ >= sessions || run_done_; });
  return sessions_ >= sessions;
}

uint64_t Worker::sessions() const {
  std::lock_guard lock(mu_);
  return sessions_;
}

void Worker::Log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

void Worker::Stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  cv_.notify_all();
}

absl::Status Worker::Run() {
  for (int i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] { ThreadLoop(); });
  }
  std::mt19937_64 random{std::random_device{}()};
  auto delay = options_.reconnect_initial;
  absl::Status status;
  bool followed = false;  // The last session went straight to a named leader.
  while (true) {
    uint64_t welcomes_before = sessions();
    bool leader_named = false;
    status = RunSession(&leader_named);
    std::unique_lock lock(mu_);
    // Told to drain (or stopped), with nothing left to report: however
    // jobqd then ended the stream (it may close it before reading the
    // worker's goodbye), the worker did what was asked.
    if ((drained_ || stopping_) && held_.empty()) {
      status = absl::OkStatus();
      break;
    }
    // A standby named the leader: go there at once (even without
    // `reconnect`: no stream broke, the worker was sent on), unless the
    // last session did so too (standbys may disagree for a moment).
    const bool at_once = leader_named && !followed;
    followed = at_once;
    if (stopping_ || !(options_.reconnect || at_once) ||
        !Reconnectable(status)) {
      break;
    }
    if (status.code() == absl::StatusCode::kAlreadyExists &&
        options_.worker_id.empty()) {
      worker_id_.clear();  // jobqd gave the name it had chosen away.
    }
    if (sessions_ > welcomes_before) delay = options_.reconnect_initial;
    auto wait = std::chrono::milliseconds(
        at_once ? 0
                : std::uniform_int_distribution<long>(delay.count() / 2,
                                                      delay.count())(random));
    const std::string& next = cluster_->node(cluster_->leader()).address;
    std::string line = absl::StrCat(
        "jobq worker ", worker_id_, ": stream ended (", status.ToString(),
        "); reconnecting", next.empty() ? "" : " to ", next, " in ",
        wait.count(), " ms");
    lock.unlock();
    Log(line);
    lock.lock();
    if (at_once) continue;
    delay = std::min(delay * 2, options_.reconnect_max);
    cv_.wait_for(lock, wait, [&] { return stopping_; });
    if (stopping_ && held_.empty()) {
      status = absl::OkStatus();
      break;
    }
  }
  {
    std::lock_guard lock(mu_);
    run_done_ = true;
    work_cv_.notify_all();
    welcome_cv_.notify_all();
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  return status;
}

absl::Status Worker::RunSession(bool* leader_named) {
  v1::WorkerMessage hello;
  {
    std::lock_guard lock(mu_);
    welcomed_ = false;
    drain_sent_ = false;
    read_done_ = false;
    writes_done_ = false;
    // Progress is worth nothing to another stream; results are kept.
    pending_.clear_progress();
    auto* h = hello.mutable_hello();
    h->set_worker_id(worker_id_.empty() ? options_.worker_id : worker_id_);
    for (const auto& k : options_.kinds) h->add_kinds(k);
    for (const auto& q : options_.queues) h->add_queues(q);
    h->set_concurrency(options_.concurrency);
  }
  const size_t node = cluster_->leader();
  ctx_ = std::make_unique<grpc::ClientContext>();
  stream_ = cluster_->node(node).workers->Work(ctx_.get());
  if (stream_->Write(hello)) {
    std::thread writer([this] { WriteLoop(); });
    ReadLoop();
    {
      std::lock_guard lock(mu_);
      read_done_ = true;
      welcomed_ = false;
      cv_.notify_all();
    }
    writer.join();
  }
  absl::Status status = Client::FromGrpc(stream_->Finish());
  stream_.reset();
  const auto& trailers = ctx_->GetServerTrailingMetadata();
  auto named = trailers.find(kLeaderMetadataKey);
  std::optional<size_t> leader;
  if (named != trailers.end()) {
    leader = cluster_->FindOrAdd(
        std::string(named->second.data(), named->second.size()));
  }
  *leader_named = leader.has_value();
  cluster_->SetLeader(
      NodeAfterStreamEnd(ClassifyFailure(status, named != trailers.end()), node,
                         leader, cluster_->size()));
  return status;
}

void Worker::ReadLoop() {
  v1::WorkAssignment m;
  while (stream_->Read(&m)) {
    std::vector<std::shared_ptr<WorkerJob>> inline_jobs;
    std::vector<std::string> lines;  // Logged outside the lock.
    {
      std::lock_guard lock(mu_);
      if (m.has_welcome()) {
        worker_id_ = m.welcome().worker_id();
        const auto& d = m.welcome().heartbeat_interval();
        auto ms = d.seconds() * 1000 + d.nanos() / 1'000'000;
        if (ms > 0) heartbeat_ = std::chrono::milliseconds(ms);
        welcomed_ = true;
        ++sessions_;
        welcome_cv_.notify_all();
      }
      for (const auto& r : m.revoked()) {
        auto it = held_.find(r.job_id());
        if (it == held_.end() || it->second->attempt() != r.attempt()) continue;
        it->second->revoked_.store(true);
        held_.erase(it);
      }
      refused_ += static_cast<uint64_t>(m.refused_size());
      for (const auto& r : m.refused()) {
        lines.push_back(absl::StrCat(
            "jobq worker ", worker_id_, ": jobqd refused the result of job ",
            r.job_id(), " attempt ", r.attempt(), ": ", r.reason()));
      }
      if (m.drain()) drained_ = true;
      for (auto& j : *m.mutable_jobs()) {
        std::shared_ptr<WorkerJob> job(new WorkerJob(this, std::move(j)));
        held_[job->id()] = job;
        if (options_.threads == 0) {
          inline_jobs.push_back(std::move(job));
        } else {
          queue_.push_back(std::move(job));
          work_cv_.notify_one();
        }
      }
      cv_.notify_all();
    }
    for (const auto& line : lines) Log(line);
    if (m.drain() && options_.on_drain) options_.on_drain();
    for (const auto& job : inline_jobs) RunJob(job);
    if (!inline_jobs.empty()) {
      std::lock_guard lock(mu_);
      cv_.notify_all();
    }
    m.Clear();
  }
}

void Worker::ThreadLoop() {
  while (true) {
    std::shared_ptr<WorkerJob> job;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return !queue_.empty() || run_done_; });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    if (!job->revoked()) RunJob(job);
  }
}

void Worker::RunJob(const std::shared_ptr<WorkerJob>& job) {
  Outcome outcome;
  try {
    outcome = handler_(*job);
  } catch (const std::exception& e) {
    outcome = Outcome::Failure(e.what());
  } catch (...) {
    outcome = Outcome::Failure("the handler threw");
  }
  Report(job, outcome);
}

void Worker::Report(const std::shared_ptr<WorkerJob>& job,
                    const Outcome& outcome) {
  std::lock_guard lock(mu_);
  ++done_;
  auto it = held_.find(job->id());
  if (it == held_.end() || it->second != job) return;  // Revoked.
  held_.erase(it);
  auto* r = pending_.add_results();
  r->set_job_id(job->id());
  r->set_attempt(job->attempt());
  r->set_success(outcome.success);
  r->set_result(outcome.result);
  r->set_error(outcome.error);
  r->set_permanent(outcome.permanent);
  // Inline runs are reported in one message per assignment message.
  if (options_.threads > 0) cv_.notify_all();
}

void Worker::AddProgress(const WorkerJob& job, double fraction,
                         const std::string& message) {
  std::lock_guard lock(mu_);
  if (!held_.contains(job.id())) return;
  auto* p = pending_.add_progress();
  p->set_job_id(job.id());
  p->set_attempt(job.attempt());
  p->set_fraction(fraction);
  p->set_message(message);
  cv_.notify_all();
}

void Worker::WriteLoop() {
  std::unique_lock lock(mu_);
  while (!read_done_) {
    // Wake for something to say, or after the heartbeat interval to say
    // that the worker lives. Nothing goes out before the welcome: results
    // sent with a hello that jobqd refuses would be lost.
    cv_.wait_for(lock, heartbeat_, [&] {
      return read_done_ ||
             (welcomed_ &&
              (pending_.results_size() > 0 || pending_.progress_size() > 0 ||
               (stopping_ && !drain_sent_) || DoneLocked()));
    });
    if (read_done_) break;
    if (!welcomed_) continue;
    v1::WorkerMessage message;
    message.Swap(&pending_);
    if (stopping_ && !drain_sent_) {
      message.set_draining(true);
      drain_sent_ = true;
    }
    bool finish = DoneLocked();
    lock.unlock();
    bool ok = stream_->Write(message);
    if (ok && finish) ok = stream_->WritesDone();
    lock.lock();
    if (!ok) {
      // The stream broke: its results wait for the next one.
      for (auto& r : *message.mutable_results()) {
        *pending_.add_results() = std::move(r);
      }
    }
    if (!ok || finish) {
      writes_done_ = true;
      break;
    }
  }
}

}  // namespace jobq::client
