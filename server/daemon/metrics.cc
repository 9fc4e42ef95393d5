#include "daemon/metrics.h"

#include <dirent.h>
#include <sys/resource.h>

#include <chrono>
#include <future>
#include <memory>

#include "common/process.h"
#include "http/prometheus_text.h"

namespace jobq::daemon {
namespace {

using http::Labels;
using http::PrometheusText;

const char* kStates[] = {"waiting",   "scheduled", "ready",    "running",
                         "succeeded", "dead",      "cancelled"};
const v1::JobState kStateValues[] = {
    v1::JOB_STATE_WAITING,  v1::JOB_STATE_SCHEDULED, v1::JOB_STATE_READY,
    v1::JOB_STATE_RUNNING,  v1::JOB_STATE_SUCCEEDED, v1::JOB_STATE_DEAD,
    v1::JOB_STATE_CANCELLED};

// The core's figures.
void AddCore(const engine::CoreFigures& core, PrometheusText* p) {
  for (const engine::QueueFigures& q : core.queues) {
    const std::string& name = q.name;
    Labels l = {{"queue", name}};
    p->Counter("jobq_jobs_submitted_total", "Jobs accepted.", l,
               static_cast<double>(q.submitted_total));
    p->Counter("jobq_jobs_started_total", "Runs started.", l,
               static_cast<double>(q.started_total));
    const std::pair<const char*, uint64_t> outcomes[] = {
        {"succeeded", q.succeeded_total},
        {"failed", q.failed_total},
        {"dead", q.dead_total},
        {"cancelled", q.cancelled_total}};
    for (const auto& [outcome, n] : outcomes) {
      p->Counter("jobq_jobs_finished_total",
                 "Runs and jobs that ended, by outcome (failed counts failed "
                 "runs, retried or not).",
                 {{"queue", name}, {"outcome", outcome}},
                 static_cast<double>(n));
    }
    for (size_t i = 0; i < std::size(kStates); ++i) {
      p->Gauge("jobq_queue_jobs", "Jobs held, by queue and state.",
               {{"queue", name}, {"state", kStates[i]}},
               static_cast<double>(q.by_state[kStateValues[i]]));
    }
    p->Gauge("jobq_queue_watchers", "Watch streams on the queue.", l,
             static_cast<double>(q.watchers));
    p->Gauge("jobq_queue_paused", "1 when the queue is paused.", l,
             q.paused ? 1 : 0);
    p->Counter("jobq_jobs_refused_total",
               "Submits refused because the queue held its max_queued.", l,
               static_cast<double>(q.refused_total));
    p->Counter("jobq_dead_dropped_total",
               "DEAD jobs forgotten because jobqd held --max-dead of them.", l,
               static_cast<double>(q.dead_dropped_total));
    p->HistogramSeconds("jobq_job_queue_wait_seconds",
                        "Time from READY to started.", l, q.queue_wait);
    p->HistogramSeconds("jobq_job_run_time_seconds",
                        "Time from started to finished, per run.", l,
                        q.run_time);
    p->HistogramSeconds("jobq_job_total_time_seconds",
                        "Time from submitted to a terminal state.", l,
                        q.total_time);
  }
  p->Gauge("jobq_open_streams",
           "Open Watch, SubmitAndWatch and SubmitStream "
           "streams.",
           {}, static_cast<double>(core.open_streams));
  p->Gauge("jobq_jobs_running", "Jobs running, all queues.", {},
           static_cast<double>(core.running));
  p->Gauge("jobq_remote_workers", "Remote workers connected.", {},
           static_cast<double>(core.remote_workers));
  p->Gauge("jobq_remote_workers_fenced",
           "Remote workers fenced: silent for a whole lease, given no job "
           "until heard from.",
           {}, static_cast<double>(core.fenced_workers));
  p->Counter("jobq_remote_leases_expired_total",
             "Leases lost because their worker was silent for a whole lease.",
             {}, static_cast<double>(core.leases_expired));
  for (const auto& k : core.kinds) {
    http::Labels l = {{"kind", k.kind()}};
    p->Gauge("jobq_remote_jobs_waiting",
             "READY jobs of a kind remote workers run, all queues.", l,
             static_cast<double>(k.waiting()));
    p->Gauge("jobq_remote_jobs_running",
             "Jobs of a kind running on remote workers.", l,
             static_cast<double>(k.running()));
    p->Gauge(
        "jobq_remote_capacity",
        "Jobs of a kind that connected, unfenced workers may hold at once.", l,
        static_cast<double>(k.capacity()));
  }
}

void AddWal(const store::Log& log, PrometheusText* p) {
  store::LogStats s = log.Stats();
  p->Gauge("jobq_wal_bytes", "Bytes in the write-ahead log's segments.", {},
           static_cast<double>(s.log_bytes));
  p->Gauge("jobq_wal_segments", "Segment files of the write-ahead log.", {},
           static_cast<double>(s.segments));
  p->Counter("jobq_wal_records_total", "Records written.", {},
             static_cast<double>(s.records_written));
  p->Counter("jobq_wal_writes_total", "Group commits (one write each).", {},
             static_cast<double>(s.batches_written));
  p->Counter("jobq_wal_fsyncs_total", "fdatasync calls.", {},
             static_cast<double>(s.fsyncs));
  p->HistogramSeconds("jobq_wal_fsync_seconds", "fdatasync latency.", {},
                      s.fsync_us);
  p->HistogramCounts(
      "jobq_wal_group_commit_records", "Records per group commit.", {},
      s.group_records,
      {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536});
  p->Gauge("jobq_wal_failed", "1 once the log has failed for good.", {},
           s.failure.empty() ? 0 : 1);
  p->Gauge("jobq_wal_stalled",
           "1 while the log cannot write and retries (jobqd is degraded: it "
           "starts no jobs and refuses changes).",
           {}, s.stalled.empty() ? 0 : 1);
  p->Counter("jobq_wal_write_failures_total",
             "Writes of the log that failed and were undone.", {},
             static_cast<double>(s.write_failures));
  p->Counter("jobq_wal_withdrawn_records_total",
             "Enqueues refused because the write carrying them failed.", {},
             static_cast<double>(s.withdrawn_records));
}

// Both connections at their last use: the leadership's (renewing or
// campaigning, every lease/4 at least) and the log's (writing or tailing).
bool Connected(const ClusterFigures& c, const store::PgLog* log) {
  const store::PgLeader* leader = c.pg_leader.load();
  return leader != nullptr && leader->connected() &&
         (log == nullptr || log->connected());
}

void AddCluster(const ClusterFigures& c, const store::PgLog* log,
                PrometheusText* p) {
  p->Gauge("jobq_leader",
           "1 on the leader of the cluster on PostgreSQL, 0 on a standby.", {},
           c.leader.load() ? 1 : 0);
  p->Gauge("jobq_leader_epoch",
           "The leadership epoch this node knows (its own while it leads).", {},
           static_cast<double>(c.epoch.load()));
  p->Gauge(
      "jobq_standby_lag_records",
      "Records the leader committed that this standby had not applied "
      "when it last looked (0 on the leader).",
      {},
      c.leader.load() || log == nullptr ? 0 : static_cast<double>(log->lag()));
  p->Counter("jobq_failovers_total",
             "Times this node took the leadership over from another.", {},
             static_cast<double>(c.failovers.load()));
  p->Gauge("jobq_postgres_connected",
           "1 while this node's connections to PostgreSQL work.", {},
           Connected(c, log) ? 1 : 0);
  if (log != nullptr) {
    p->HistogramSeconds("jobq_postgres_append_seconds",
                        "Latency of one append transaction, BEGIN to COMMIT.",
                        {}, log->Stats().fsync_us);
  }
}

void AddRpcs(const api::RpcMetrics& rpc, PrometheusText* p) {
  static const char* kCodes[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  for (const auto& [key, n] : rpc.Snapshot()) {
    const auto& [method, code] = key;
    // "/jobq.v1.JobService/Submit" -> service, method.
    auto slash = method.rfind('/');
    std::string service =
        slash == std::string::npos ? "" : method.substr(1, slash - 1);
    std::string name =
        slash == std::string::npos ? method : method.substr(slash + 1);
    p->Counter("jobq_grpc_requests_total", "RPCs finished, by method and code.",
               {{"service", service},
                {"method", name},
                {"code", code >= 0 && code < 17 ? kCodes[code] : "UNKNOWN"}},
               static_cast<double>(n));
  }
}

const char* kLimitHelp =
    "Jobs, streams or connections refused by a limit: submit_rate (per "
    "token), watchers_per_queue or connections. max_queued is "
    "jobq_jobs_refused_total.";

void AddRefusals(const api::ServiceContext& ctx, uint64_t watchers_refused,
                 PrometheusText* p) {
  const char* kAuthHelp =
      "Calls refused for their token: unauthenticated (missing, malformed or "
      "unknown) or permission_denied (role or queue).";
  p->Counter("jobq_auth_failures_total", kAuthHelp,
             {{"reason", "unauthenticated"}},
             static_cast<double>(ctx.auth->unauthenticated_total()));
  p->Counter("jobq_auth_failures_total", kAuthHelp,
             {{"reason", "permission_denied"}},
             static_cast<double>(ctx.auth->denied_total()));
  p->Counter("jobq_limit_refusals_total", kLimitHelp,
             {{"limit", "submit_rate"}},
             static_cast<double>(ctx.auth->rate_limited_total()));
  p->Counter("jobq_limit_refusals_total", kLimitHelp,
             {{"limit", "watchers_per_queue"}},
             static_cast<double>(watchers_refused));
  const events::StreamBudget& streams = ctx.stream_budget;
  const char* kCutHelp =
      "Event streams cut off with RESOURCE_EXHAUSTED for not reading: by "
      "their own buffer's bound (slow) or by --max-stream-memory (memory).";
  p->Counter("jobq_streams_cut_total", kCutHelp, {{"reason", "slow"}},
             static_cast<double>(streams.cut_slow.load()));
  p->Counter("jobq_streams_cut_total", kCutHelp, {{"reason", "memory"}},
             static_cast<double>(streams.cut_memory.load()));
  p->Gauge("jobq_stream_buffer_bytes",
           "Bytes charged to the buffers of all event streams, not yet "
           "written.",
           {}, static_cast<double>(streams.used()));
  p->Gauge("jobq_stream_buffer_limit_bytes",
           "--max-stream-memory: the cap on jobq_stream_buffer_bytes.", {},
           static_cast<double>(streams.max_bytes()));
  p->Gauge("jobq_insecure",
           "1 when jobqd serves a non-loopback address without TLS or tokens "
           "(--insecure).",
           {}, ctx.warnings.empty() ? 0 : 1);
}

// Hops take microseconds: finer buckets than the jobs' times.
void AddHops(const LatencyHops& hops, PrometheusText* p) {
  static const std::vector<double> kBounds = {
      0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
      0.001,    0.0025,  0.005,    0.01,    0.025,  0.1,     1};
  for (int i = 0; i < static_cast<int>(Hop::kCount); ++i) {
    Hop hop = static_cast<Hop>(i);
    p->HistogramSeconds(
        "jobq_hop_seconds",
        "Where a job's time goes inside jobqd, by hop (see "
        "docs/performance.md): a hand-off between threads or a stretch of "
        "work.",
        {{"hop", std::string(InfoOf(hop).name)}}, hops.Snapshot(hop), &kBounds);
  }
}

void AddProcess(TimeUs started_at, PrometheusText* p) {
  p->Gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
           {}, static_cast<double>(ResidentMemoryBytes()));
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++fds;
    closedir(d);
    fds -= 3;  // ".", ".." and the directory itself.
  }
  p->Gauge("process_open_fds", "Open file descriptors.", {}, fds);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu =
      static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
      static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  p->Counter("process_cpu_seconds_total", "User and system CPU time.", {}, cpu);
  p->Gauge("process_start_time_seconds", "Start time, seconds since the epoch.",
           {}, static_cast<double>(started_at) / 1e6);
}

}  // namespace

std::string RenderMetrics(const MetricsSources& s) {
  auto page = std::make_shared<std::promise<PrometheusText>>();
  auto future = page->get_future();
  // A standby's core does not run: its figures are the leader's.
  bool core_runs =
      s.core != nullptr && (s.ctx == nullptr || !s.ctx->recovering.load());
  if (core_runs) {
    s.core->Figures([page](absl::StatusOr<engine::CoreFigures> figures) {
      PrometheusText p;
      if (figures.ok()) {
        p.Gauge("jobq_up", "1 while jobqd runs.", {}, 1);
        AddCore(*figures, &p);
      }
      page->set_value(std::move(p));
    });
  }
  PrometheusText p;
  if (core_runs &&
      future.wait_for(std::chrono::seconds(5)) == std::future_status::ready) {
    p = future.get();
  }
  p.Gauge("jobq_build_info", "The running version.", {{"version", s.version}},
          1);
  if (s.log != nullptr) AddWal(*s.log, &p);
  if (s.cluster != nullptr) AddCluster(*s.cluster, s.pg_log, &p);
  if (s.rpc != nullptr) AddRpcs(*s.rpc, &p);
  if (s.ctx != nullptr && s.ctx->auth != nullptr) {
    AddRefusals(*s.ctx, s.core != nullptr ? s.core->watchers_refused() : 0, &p);
  }
  if (s.ctx != nullptr) AddHops(s.ctx->hops, &p);
  if (s.listener != nullptr) {
    p.Gauge("jobq_connections", "Client connections open.", {},
            static_cast<double>(s.listener->open_connections()));
    p.Counter("jobq_limit_refusals_total", kLimitHelp,
              {{"limit", "connections"}},
              static_cast<double>(s.listener->refused_total()));
  }
  AddProcess(s.started_at, &p);
  return p.Render();
}

}  // namespace jobq::daemon
