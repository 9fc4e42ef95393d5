#pragma once

#include <grpcpp/support/status.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/histogram.h"
#include "core/job_list.h"
#include "core/queue.h"
#include "engine/durable_acks.h"
#include "events/event_hub.h"
#include "events/event_stream.h"
#include "jobq/v1/jobq.pb.h"
#include "remote/registry.h"

namespace jobq::engine {

class CoreLoop;

// Answers of the facade. Called on the core thread, or on the caller's
// thread with UNAVAILABLE when the core has stopped. Keep them short: the
// core thread runs every job.
template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;

// Whether the caller may use a job of `queue`; `what` names the job in the
// error (PERMISSION_DENIED). Null: anyone may.
using QueueCheck = std::function<absl::Status(const std::string& queue,
                                              absl::string_view what)>;

// Why the core refused a submit (SubmitOutcome::refused()):
// RESOURCE_EXHAUSTED when its queue held its max_queued unfinished jobs,
// or the outcome's error (a parent that cannot succeed). `prefix` names the
// spec in the request ("job.", "jobs[3].").
absl::Status SubmitRefusal(const core::SubmitOutcome& out,
                           absl::string_view prefix);

// A status as gRPC carries it (the codes are the same numbers).
inline grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

// The answer to a command that reaches a core that has stopped.
inline absl::Status Stopped() {
  return absl::UnavailableError("jobqd is shutting down");
}
inline grpc::Status Unavailable() { return ToGrpc(Stopped()); }

// A client stream that receives job events, as the core sees it.
// Thread: `stream` is thread-safe; `subscription` is the core thread's.
struct Watcher {
  explicit Watcher(std::shared_ptr<events::EventStream> s)
      : stream(std::move(s)) {}
  std::shared_ptr<events::EventStream> stream;
  uint64_t subscription = 0;  // 0 until subscribed.
};

// A remote worker's Work stream, as the core sees it.
// Thread: `outbound` is thread-safe; the rest is the core thread's.
struct WorkerLink {
  explicit WorkerLink(std::shared_ptr<remote::WorkerStream> out)
      : outbound(std::move(out)) {}
  std::shared_ptr<remote::WorkerStream> outbound;
  uint64_t session = 0;  // 0 until its hello is accepted.
  bool gone = false;     // The stream ended; a late hello is ignored.
};

// What ListJobs asks for: jobs after `after` (a job id; 0: from the start)
// in id order, matching the filter.
struct ListQuery {
  core::JobFilter filter;
  uint64_t after = 0;
  size_t page_size = 100;
};

// What to watch: jobs by id (each must exist and pass `check`) and, when
// `queue` is set, every job of that queue from now on, after an opening
// of its current jobs.
struct WatchSpec {
  std::vector<uint64_t> seqs;
  std::string queue;
  events::EventHub::StateMask states = events::kAllStates;
  QueueCheck check;
};

// One queue's figures, for metrics and dashboards.
struct QueueFigures {
  std::string name;
  bool paused = false;
  std::array<uint64_t, core::kJobStates>
      by_state{};  // Indexed by v1::JobState.
  uint64_t submitted_total = 0;
  uint64_t started_total = 0;
  uint64_t succeeded_total = 0;
  uint64_t failed_total = 0;
  uint64_t dead_total = 0;
  uint64_t cancelled_total = 0;
  uint64_t refused_total = 0;
  uint64_t dead_dropped_total = 0;
  size_t watchers = 0;
  Histogram queue_wait;
  Histogram run_time;
  Histogram total_time;
};

// p50, p90, p99, max and count of a histogram of microseconds.
void FillQuantiles(const Histogram& h, v1::Quantiles* out);

struct CoreFigures {
  std::vector<QueueFigures> queues;  // Sorted by name.
  size_t open_streams = 0;
  uint64_t running = 0;
  size_t remote_workers = 0;
  size_t fenced_workers = 0;
  uint64_t leases_expired = 0;
  google::protobuf::RepeatedPtrField<v1::KindStats> kinds;
};

// The core's command API: every request the front ends (gRPC, HTTP) make of
// the core thread goes through these typed methods, which post to the core
// and answer there. Nothing outside the engine touches the Scheduler, the
// EventHub or the Registry. Changes answer only once durable (DurableAcks);
// a refusal changes nothing.
// Thread: every method from any thread.
class CoreApi {
 public:
  struct Options {
    // Watch streams one queue may have; 0: no limit.
    size_t max_watchers_per_queue = 0;
    // For GetStats' uptime.
    TimeUs started_at = 0;
  };

  CoreApi(CoreLoop* loop, Options options);

  // Jobs.
  // Enqueues validated specs; `done` gets one outcome per spec once they
  // are durable, or the log's error (nothing stored). False when the core
  // has stopped: then nothing was posted and `done` is never called (the
  // caller answers UNAVAILABLE itself).
  [[nodiscard]] bool Submit(std::vector<v1::JobSpec> specs, SubmitDone done);
  void GetJob(uint64_t seq, QueueCheck check, Done<v1::Job> done);
  // Cancels a job not yet finished, stopping its run; FAILED_PRECONDITION
  // when it has finished.
  void CancelJob(uint64_t seq, QueueCheck check, Done<v1::Job> done);
  // A page is built over as many core turns as its filter needs, a bounded
  // number of jobs looked at per turn (core::JobListing). It comes as
  // copies of the jobs: the caller builds the v1 page (ListedJobs::ToProto)
  // on its own thread.
  void ListJobs(ListQuery query, Done<core::ListedJobs> done);

  // Event streams. Errors close the stream with their status.
  void Watch(std::shared_ptr<Watcher> w, WatchSpec spec);
  // Submits one job; once durable, the stream opens with its first state.
  void SubmitAndWatch(std::shared_ptr<Watcher> w, v1::JobSpec spec,
                      events::EventHub::StateMask states);
  // SubmitStream: subscribes `w`, then submits job by job. `acked` runs on
  // the core once the job is durable (or refused), before any of its
  // events; it returns false when the stream is ending. With `watch`, the
  // job's events in `states` then follow. Both return false when the core
  // has stopped: OpenStream has then closed the stream UNAVAILABLE; after
  // SubmitOnStream the caller does.
  [[nodiscard]] bool OpenStream(std::shared_ptr<Watcher> w);
  [[nodiscard]] bool SubmitOnStream(
      std::shared_ptr<Watcher> w, v1::JobSpec spec, bool watch,
      events::EventHub::StateMask states,
      absl::AnyInvocable<bool(const absl::Status&, const core::SubmitOutcome&)>
          acked);
  // The client sent everything: the stream ends after the acks of every
  // earlier submit, once every watched job has ended.
  void EndStream(std::shared_ptr<Watcher> w);
  // The stream is gone. Thread-safe and idempotent.
  void Unsubscribe(std::shared_ptr<Watcher> w);
  // Runs `fn` on the core thread, after what was posted before it (for a
  // stream's writes, which belong to the core thread). False when stopped.
  bool Run(absl::AnyInvocable<void()> fn);

  // Remote workers. `processed` runs on the core once the message is
  // handled. False (and nothing runs) when the core has stopped.
  bool WorkerMessage(std::shared_ptr<WorkerLink> link, std::string peer,
                     v1::WorkerMessage message,
                     absl::AnyInvocable<void()> processed);
  // The worker's stream ended: its jobs go back to their queues. With
  // `close`, the stream is closed with it after what the core still sends.
  bool WorkerGone(std::shared_ptr<WorkerLink> link,
                  std::optional<grpc::Status> close);

  // Queues. A queue paused comes into existence; resuming or limiting an
  // unknown queue is NOT_FOUND (most likely a typo).
  void PauseQueue(std::string queue, bool paused, Done<v1::QueueStats> done);
  // Changes the limits `limits` sets; the others stay.
  void SetQueueLimits(std::string queue, core::QueueLimits limits,
                      Done<v1::QueueStats> done);

  // The lifecycle of finished jobs (core_api_lifecycle.cc).
  // Runs a DEAD or CANCELLED job again (FAILED_PRECONDITION otherwise).
  void RetryJob(uint64_t seq, QueueCheck check, Done<v1::Job> done);
  // Forgets a finished job (FAILED_PRECONDITION when it has not finished).
  void DeleteJob(uint64_t seq, QueueCheck check,
                 Done<v1::DeleteJobResponse> done);
  // Retries up to `limit` (0: all) of the queue's DEAD jobs, and
  // removes the queue's jobs whose state is in `states` (bit
  // 1 << v1::JobState), cancelling unfinished ones first. Both work in
  // steps of kLifecycleChunk jobs, one per core turn, and answer the count
  // once the last step is durable. An unknown queue is NOT_FOUND.
  static constexpr size_t kLifecycleChunk = 1000;
  void RetryDead(std::string queue, uint64_t limit, Done<uint64_t> done);
  void PurgeQueue(std::string queue, uint32_t states, Done<uint64_t> done);

  // Figures. GetStats fills what the core knows (queues, totals, jobs,
  // streams, workers, storage, uptime).
  void GetStats(Done<v1::GetStatsResponse> done);
  void ListQueues(Done<v1::ListQueuesResponse> done);
  void ListWorkers(Done<v1::ListWorkersResponse> done);
  void Figures(Done<CoreFigures> done);

  // Recurring schedules (core_api_schedules.cc). `check` (null: anyone)
  // decides whether the caller may use the schedule's queue: a schedule
  // it fails is PERMISSION_DENIED by name, and left out of a list. The
  // spec and time zone are checked here (INVALID_ARGUMENT naming
  // schedule.spec or schedule.time_zone); the template's job by the caller.
  void CreateSchedule(v1::Schedule def, Done<v1::Schedule> done);
  void GetSchedule(std::string name, QueueCheck check, Done<v1::Schedule> done);
  void ListSchedules(QueueCheck check, Done<v1::ListSchedulesResponse> done);
  void DeleteSchedule(std::string name, QueueCheck check,
                      Done<v1::DeleteScheduleResponse> done);
  void PauseSchedule(std::string name, bool paused, QueueCheck check,
                     Done<v1::Schedule> done);
  // Submits the template's job now, answered once durable.
  void TriggerSchedule(std::string name, QueueCheck check,
                       Done<v1::TriggerScheduleResponse> done);

  // Watch streams refused because their queue had max_watchers_per_queue.
  uint64_t watchers_refused() const {
    return watchers_refused_.load(std::memory_order_relaxed);
  }

 private:
  CoreLoop* const loop_;
  const Options options_;
  std::atomic<uint64_t> watchers_refused_{0};
};

// Fills a queue's stats as GetStats and the queue controls answer them.
void FillQueueStats(const core::Queue& q, TimeUs now, v1::QueueStats* out);

}  // namespace jobq::engine
