#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "client/cluster.h"
#include "jobq/v1/jobq.grpc.pb.h"

namespace jobq::client {

struct WorkerOptions {
  // Unique among the workers connected to one jobqd; empty: jobqd assigns.
  // (Every member has an initializer, so that designated initializers may
  // name only some.)
  std::string worker_id{};
  // The kinds this worker runs (at least one), and the queues it takes
  // them from (empty: every queue).
  std::vector<std::string> kinds{};
  std::vector<std::string> queues{};
  // Jobs held at once.
  int concurrency = 1;
  // Threads that run the handler. 0 runs it on the stream's reading thread:
  // the fastest way for handlers that return at once, but one slow job
  // then holds up the others.
  int threads = 1;
  // Called on the reading thread when jobqd, shutting down, asks the
  // worker to finish the jobs it holds (no more will come).
  std::function<void()> on_drain{};
  // When the stream breaks (jobqd restarting, the network), connect again
  // after a backoff that doubles from reconnect_initial up to reconnect_max,
  // each wait drawn from [d/2, d] so that workers do not come back in step.
  // (A standby's refusal that names the leader is followed either way.)
  bool reconnect = true;
  std::chrono::milliseconds reconnect_initial{100};
  std::chrono::milliseconds reconnect_max{10'000};
  // Where the worker's log lines go (a refused result, a reconnect);
  // unset: standard error. Called on the reading thread or Run's.
  std::function<void(const std::string&)> log{};
};

// One job handed to the handler.
// Thread: the handler's; Progress and revoked() are safe from any thread.
class WorkerJob {
 public:
  const v1::AssignedJob& assignment() const { return job_; }
  const std::string& id() const { return job_.job_id(); }
  const std::string& kind() const { return job_.kind(); }
  const std::string& queue() const { return job_.queue(); }
  const std::string& payload() const { return job_.payload(); }
  int32_t attempt() const { return job_.attempt(); }
  // The results of the jobs this one depends on (JobSpec.depends_on), in
  // id order.
  const google::protobuf::RepeatedPtrField<v1::ParentResult>& parents() const {
    return job_.parents();
  }

  // Reports how far the job has got (0 to 1); watchers see it.
  void Progress(double fraction, const std::string& message = "");
  // True once jobqd has taken the job back (cancelled, timed out, or the
  // lease was lost): stop; the result will be dropped.
  bool revoked() const { return revoked_.load(); }

 private:
  friend class Worker;
  WorkerJob(class Worker* worker, v1::AssignedJob job)
      : worker_(worker), job_(std::move(job)) {}
  class Worker* worker_;
  v1::AssignedJob job_;
  std::atomic<bool> revoked_{false};
};

// How the handler's run ended.
struct Outcome {
  bool success = true;
  std::string result;
  std::string error;
  // No retry will help: the job goes to DEAD at once.
  bool permanent = false;

  static Outcome Success(std::string result = "") {
    return Outcome{true, std::move(result), "", false};
  }
  static Outcome Failure(std::string error, bool permanent = false) {
    return Outcome{false, "", std::move(error), permanent};
  }
};

// A remote worker: opens WorkerService.Work, runs `handler` for each job
// jobqd assigns, and reports each outcome. Leases are handled: results and
// progress go out batched, and an idle worker sends heartbeats. A handler
// that throws fails its job with the exception's message.
//
// Reconnects: when the stream breaks, Run opens another after a backoff
// with jitter and says hello again under the id jobqd gave it; the jobs it
// still runs go on, and results that were not sent (or finished while it
// was away) go out once it is welcomed again. jobqd takes those whose
// leases still hold; a refused one (the lease is gone, the job went back
// to its queue) is logged and dropped. A hello refused for good (a bad
// kind, a token without the worker role) ends Run with that error.
//
// Over a Cluster of several nodes it works for the leader: a standby's
// refusal that names the leader sends the next session there at once (once
// in a row, then after the backoff: two standbys may disagree for a
// moment); a stream that ended UNAVAILABLE otherwise sends it to the next
// node, after the backoff.
//
//   Worker w(channel, {.kinds = {"resize"}, .concurrency = 8, .threads = 8},
//            [](WorkerJob& job) { return Outcome::Success(Resize(job)); });
//   absl::Status s = w.Run();  // Until Stop() or jobqd drains.
//
// Thread: Run on one thread; Stop from any.
class Worker {
 public:
  using Handler = std::function<Outcome(WorkerJob&)>;

  Worker(std::shared_ptr<grpc::Channel> channel, WorkerOptions options,
         Handler handler);
  // Over the nodes of `cluster` (which a Client may share: see
  // Client::cluster()), following its leader.
  Worker(std::shared_ptr<Cluster> cluster, WorkerOptions options,
         Handler handler);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Connects and works until Stop(), or a drain by jobqd once every held
  // job has been reported (OK), reconnecting when the stream breaks; the
  // stream's error when it cannot go on (or broke, without `reconnect`).
  absl::Status Run();
  // Asks for no more jobs; Run returns once the jobs held are reported.
  void Stop();

  // Set once jobqd has welcomed the worker.
  std::string worker_id() const;
  // Blocks until jobqd has welcomed the worker `sessions` times in all
  // (the first connection and each reconnect count one; from a welcome on
  // it is offered jobs) or Run has ended, at most `timeout`. True when
  // welcomed so often.
  bool WaitWelcomed(std::chrono::milliseconds timeout, uint64_t sessions = 1);
  // Welcomes received so far.
  uint64_t sessions() const;
  uint64_t jobs_done() const { return done_.load(); }
  // Results jobqd did not take (late ones, after a lost lease).
  uint64_t refused() const { return refused_.load(); }

 private:
  friend class WorkerJob;
  // One Work stream on the leader, from hello to its end; its final status.
  // Then the cluster's leader is the node the next session should try.
  absl::Status RunSession(bool* leader_named);
  void Log(const std::string& line) const;
  void ReadLoop();
  void WriteLoop();
  void ThreadLoop();
  void RunJob(const std::shared_ptr<WorkerJob>& job);
  void Report(const std::shared_ptr<WorkerJob>& job, const Outcome& outcome);
  void AddProgress(const WorkerJob& job, double fraction,
                   const std::string& message);
  // With mu_ held: whether the writer should finish the stream.
  bool DoneLocked() const {
    return (stopping_ || drained_) && held_.empty() &&
           pending_.results_size() == 0;
  }

  const WorkerOptions options_;
  const Handler handler_;
  const std::shared_ptr<Cluster> cluster_;
  // The live session's call; replaced on each reconnect.
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::WorkerMessage, v1::WorkAssignment>>
      stream_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // Writer: something to send.
  std::condition_variable work_cv_;  // Threads: a job to run.
  std::condition_variable welcome_cv_;
  // What the writer sends next; results stay here across a reconnect.
  v1::WorkerMessage pending_;  // Guarded by mu_.
  absl::flat_hash_map<std::string, std::shared_ptr<WorkerJob>> held_;
  std::deque<std::shared_ptr<WorkerJob>> queue_;  // For the threads.
  std::string worker_id_;
  std::chrono::milliseconds heartbeat_{10'000};
  uint64_t sessions_ = 0;  // Welcomes received.
  bool stopping_ = false;  // Stop() was called.
  bool drained_ = false;   // jobqd said drain.
  bool run_done_ = false;  // Run has returned (or is returning).
  // Per session, reset by RunSession.
  bool welcomed_ = false;    // This stream was welcomed.
  bool drain_sent_ = false;  // The writer told jobqd.
  bool read_done_ = false;   // The stream's read side ended.
  bool writes_done_ = false;
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> refused_{0};
  std::vector<std::thread> threads_;
};

}  // namespace jobq::client
