// The facade's queue, worker and figure commands.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/process.h"
#include "common/time_proto.h"
#include "core/queue.h"
#include "engine/core_api.h"
#include "engine/core_api_post.h"
#include "engine/core_loop.h"

namespace jobq::engine {

void FillQuantiles(const Histogram& h, v1::Quantiles* out) {
  DurationToProto(h.Quantile(0.50), out->mutable_p50());
  DurationToProto(h.Quantile(0.90), out->mutable_p90());
  DurationToProto(h.Quantile(0.99), out->mutable_p99());
  DurationToProto(h.Max(), out->mutable_max());
  out->set_count(h.Count());
}

namespace {

void FillStorageStats(const store::LogStats& w, uint64_t live_bytes,
                      v1::StorageStats* out) {
  out->set_data_dir(w.dir);
  out->set_sync(w.sync);
  out->set_segments(w.segments);
  out->set_log_bytes(w.log_bytes);
  out->set_live_bytes(std::min(live_bytes, w.log_bytes));
  out->set_dead_bytes(w.log_bytes - std::min(live_bytes, w.log_bytes));
  out->set_records_written(w.records_written);
  out->set_writes(w.batches_written);
  out->set_fsyncs(w.fsyncs);
  auto* g = out->mutable_group_records();
  g->set_p50(static_cast<uint64_t>(w.group_records.Quantile(0.5)));
  g->set_p90(static_cast<uint64_t>(w.group_records.Quantile(0.9)));
  g->set_p99(static_cast<uint64_t>(w.group_records.Quantile(0.99)));
  g->set_max(static_cast<uint64_t>(w.group_records.Max()));
  g->set_count(w.group_records.Count());
  FillQuantiles(w.fsync_us, out->mutable_fsync_latency());
  out->set_failure(w.failure);
  out->set_stalled(w.stalled);
  if (w.stalled_since_us > 0) {
    TimeToProto(w.stalled_since_us, out->mutable_stalled_since());
  }
  out->set_write_failures(w.write_failures);
  out->set_withdrawn_records(w.withdrawn_records);
}

void Accumulate(const v1::QueueStats& q, v1::QueueStats* total) {
  total->set_scheduled(total->scheduled() + q.scheduled());
  total->set_ready(total->ready() + q.ready());
  total->set_running(total->running() + q.running());
  total->set_succeeded(total->succeeded() + q.succeeded());
  total->set_dead(total->dead() + q.dead());
  total->set_cancelled(total->cancelled() + q.cancelled());
  total->set_dead_dropped_total(total->dead_dropped_total() +
                                q.dead_dropped_total());
  total->set_submitted_total(total->submitted_total() + q.submitted_total());
  total->set_completed_total(total->completed_total() + q.completed_total());
  total->set_submit_rate(total->submit_rate() + q.submit_rate());
  total->set_complete_rate(total->complete_rate() + q.complete_rate());
}

// Queues sorted by name, for stable output.
std::vector<const core::Queue*> SortedQueues(const core::Scheduler& s) {
  std::vector<const core::Queue*> out;
  for (const auto& [name, q] : s.queues()) out.push_back(&q);
  std::sort(out.begin(), out.end(),
            [](auto* a, auto* b) { return a->name < b->name; });
  return out;
}

// Whether a queue control may name a queue that does not exist yet.
// Pausing one is how a queue is set up ahead of its jobs (they then wait
// for a resume); resuming or limiting an unknown queue is most likely a
// typo, and creating the queue would hide it.
enum class Unknown { kCreate, kNotFound };

// The common shape of the queue controls: change the queue on the core,
// answer with its stats once the change is durable.
template <typename Change>
void ChangeQueue(CoreLoop* loop, std::string queue, Unknown unknown,
                 Change change, Done<v1::QueueStats> done) {
  Call(loop, std::move(done),
       [queue = std::move(queue), unknown, change = std::move(change)](
           CoreContext& core, Done<v1::QueueStats>& done) {
         if (unknown == Unknown::kNotFound &&
             core.scheduler.FindQueue(queue) == nullptr) {
           return done(absl::NotFoundError(
               absl::StrCat("queue: \"", queue,
                            "\" does not exist (pause it to create it)")));
         }
         // Refused before anything changed.
         if (const absl::Status& s = core.loop.Writable(); !s.ok()) {
           return done(s);
         }
         v1::QueueStats stats;
         FillQueueStats(change(core.scheduler), core.now, &stats);
         core.loop.AfterDurable(
             [stats = std::move(stats),
              done = std::move(done)](const absl::Status& s) mutable {
               if (s.ok()) {
                 done(std::move(stats));
               } else {
                 done(s);
               }
             });
       });
}

QueueFigures FiguresOf(const core::Queue& q, const events::EventHub& hub) {
  QueueFigures f;
  f.name = q.name;
  f.paused = q.paused;
  f.by_state = q.by_state;
  f.submitted_total = q.submitted_total;
  f.started_total = q.started_total;
  f.succeeded_total = q.succeeded_total;
  f.failed_total = q.failed_total;
  f.dead_total = q.dead_total;
  f.cancelled_total = q.cancelled_total;
  f.refused_total = q.refused_total;
  f.dead_dropped_total = q.dead_dropped_total;
  f.watchers = hub.QueueWatchers(q.name);
  f.queue_wait.Merge(q.queue_wait);
  f.run_time.Merge(q.run_time);
  f.total_time.Merge(q.total_time);
  return f;
}

}  // namespace

void FillQueueStats(const core::Queue& q, TimeUs now, v1::QueueStats* out) {
  out->set_name(q.name);
  out->set_paused(q.paused);
  out->set_max_concurrency(q.max_concurrency);
  out->set_max_queued(q.max_queued);
  out->set_refused_total(q.refused_total);
  out->set_rate(q.starts.rate);
  out->set_burst(q.starts.burst);
  out->set_dead_dropped_total(q.dead_dropped_total);
  out->set_waiting(q.by_state[v1::JOB_STATE_WAITING]);
  out->set_scheduled(q.by_state[v1::JOB_STATE_SCHEDULED]);
  out->set_ready(q.by_state[v1::JOB_STATE_READY]);
  out->set_running(q.by_state[v1::JOB_STATE_RUNNING]);
  out->set_succeeded(q.by_state[v1::JOB_STATE_SUCCEEDED]);
  out->set_dead(q.by_state[v1::JOB_STATE_DEAD]);
  out->set_cancelled(q.by_state[v1::JOB_STATE_CANCELLED]);
  out->set_submitted_total(q.submitted_total);
  out->set_completed_total(q.completed_total);
  out->set_submit_rate(q.submit_rate.PerSecond(now));
  out->set_complete_rate(q.complete_rate.PerSecond(now));
  FillQuantiles(q.queue_wait, out->mutable_queue_wait());
  FillQuantiles(q.run_time, out->mutable_run_time());
}

void CoreApi::PauseQueue(std::string queue, bool paused,
                         Done<v1::QueueStats> done) {
  ChangeQueue(
      loop_, queue, paused ? Unknown::kCreate : Unknown::kNotFound,
      [queue, paused](core::Scheduler& s) -> const core::Queue& {
        return s.PauseQueue(queue, paused);
      },
      std::move(done));
}

void CoreApi::SetQueueLimits(std::string queue, core::QueueLimits limits,
                             Done<v1::QueueStats> done) {
  ChangeQueue(
      loop_, queue, Unknown::kNotFound,
      [queue, limits](core::Scheduler& s) -> const core::Queue& {
        return s.SetQueueLimits(queue, limits);
      },
      std::move(done));
}

void CoreApi::GetStats(Done<v1::GetStatsResponse> done) {
  TimeUs started_at = options_.started_at;
  Call(loop_, std::move(done),
       [started_at](CoreContext& core, Done<v1::GetStatsResponse>& done) {
         v1::GetStatsResponse out;
         DurationToProto(core.now - started_at, out.mutable_uptime());
         store::Log* log = core.loop.log();
         out.set_storage(log != nullptr ? log->Stats().kind : "memory");
         out.set_open_streams(core.hub.size());
         out.set_resident_memory_bytes(ResidentMemoryBytes());
         out.set_jobs_held(core.scheduler.jobs().size());
         out.set_remote_workers(static_cast<uint32_t>(core.workers.size()));
         out.set_fenced_workers(static_cast<uint32_t>(core.workers.fenced()));
         out.set_dead_dropped_total(core.scheduler.dead_dropped());
         core.workers.KindStats(out.mutable_kinds());
         v1::QueueStats* total = out.mutable_total();
         total->set_name("*");
         Histogram wait, run;
         for (const core::Queue* q : SortedQueues(core.scheduler)) {
           v1::QueueStats* qs = out.add_queues();
           FillQueueStats(*q, core.now, qs);
           Accumulate(*qs, total);
           wait.Merge(q->queue_wait);
           run.Merge(q->run_time);
         }
         FillQuantiles(wait, total->mutable_queue_wait());
         FillQuantiles(run, total->mutable_run_time());
         if (log != nullptr) {
           FillStorageStats(log->Stats(), core.scheduler.retained_bytes(),
                            out.mutable_storage_stats());
         }
         done(std::move(out));
       });
}

void CoreApi::ListQueues(Done<v1::ListQueuesResponse> done) {
  Call(loop_, std::move(done),
       [](CoreContext& core, Done<v1::ListQueuesResponse>& done) {
         v1::ListQueuesResponse out;
         for (const core::Queue* q : SortedQueues(core.scheduler)) {
           FillQueueStats(*q, core.now, out.add_queues());
         }
         done(std::move(out));
       });
}

void CoreApi::ListWorkers(Done<v1::ListWorkersResponse> done) {
  Call(loop_, std::move(done),
       [](CoreContext& core, Done<v1::ListWorkersResponse>& done) {
         v1::ListWorkersResponse out;
         core.workers.List(&out);
         done(std::move(out));
       });
}

void CoreApi::Figures(Done<CoreFigures> done) {
  Call(loop_, std::move(done), [](CoreContext& core, Done<CoreFigures>& done) {
    CoreFigures f;
    for (const core::Queue* q : SortedQueues(core.scheduler)) {
      f.queues.push_back(FiguresOf(*q, core.hub));
    }
    f.open_streams = core.hub.size();
    f.running = core.scheduler.running();
    f.remote_workers = core.workers.size();
    f.fenced_workers = core.workers.fenced();
    f.leases_expired = core.workers.leases_expired();
    core.workers.KindStats(&f.kinds);
    done(std::move(f));
  });
}

bool CoreApi::WorkerMessage(std::shared_ptr<WorkerLink> link, std::string peer,
                            v1::WorkerMessage message,
                            absl::AnyInvocable<void()> processed) {
  return loop_->Post(
      [link = std::move(link), peer = std::move(peer),
       message = std::move(message),
       processed = std::move(processed)](CoreContext& core) mutable {
        if (message.has_hello() && !link->gone) {
          auto session = core.workers.Connect(message.hello(), std::move(peer),
                                              link->outbound, core.now);
          if (session.ok()) {
            link->session = *session;
          } else {
            link->outbound->Close(ToGrpc(session.status()));
            link->outbound->Flush();
          }
        }
        // The hello may carry results or progress too.
        bool content = !message.has_hello() || message.results_size() > 0 ||
                       message.progress_size() > 0 || message.draining();
        if (link->session != 0 && content) {
          core.workers.OnMessage(link->session, message, core.now);
        }
        processed();
      });
}

bool CoreApi::WorkerGone(std::shared_ptr<WorkerLink> link,
                         std::optional<grpc::Status> close) {
  return loop_->Post([link = std::move(link), close](CoreContext& core) {
    link->gone = true;
    if (link->session != 0) core.workers.Disconnect(link->session, core.now);
    link->session = 0;
    if (close) {
      link->outbound->Close(*close);
      link->outbound->Flush();
    }
  });
}

}  // namespace jobq::engine
