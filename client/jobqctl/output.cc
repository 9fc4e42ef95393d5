#include "client/jobqctl/output.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/client.h"

namespace jobq::ctl {

using client::StateName;

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "jobqctl: %s: %s\n",
               absl::StatusCodeToString(s.code()).c_str(),
               std::string(s.message()).c_str());
  return 1;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "jobqctl: %s\n", message.c_str());
  return 2;
}

std::string Json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  absl::Time at =
      absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", at, absl::UTCTimeZone());
}

std::string FormatDuration(const google::protobuf::Duration& d) {
  absl::Duration dur =
      absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  // Microsecond resolution is plenty for people.
  return absl::FormatDuration(absl::Trunc(dur, absl::Microseconds(1)));
}

void PrintEvent(const v1::JobEvent& e, bool json, FILE* out) {
  if (json) {
    std::fprintf(out, "%s\n", Json(e).c_str());
    return;
  }
  std::string line =
      absl::StrFormat("%s %s %-9s attempt=%d", FormatTime(e.at()), e.job_id(),
                      StateName(e.state()), e.attempt());
  if (e.has_timings() && e.timings().has_run_time()) {
    line += " run_time=" + FormatDuration(e.timings().run_time());
  }
  if (e.has_progress()) {
    line += absl::StrFormat(" progress=%.0f%%", e.progress().fraction() * 100);
    if (!e.progress().message().empty()) {
      line += " \"" + e.progress().message() + "\"";
    }
  }
  if (!e.error().empty()) line += " error=\"" + e.error() + "\"";
  std::fprintf(out, "%s\n", line.c_str());
  std::fflush(out);
}

void PrintJob(const v1::Job& j) {
  std::printf("id:          %s\n", j.id().c_str());
  std::printf("queue:       %s\n", j.spec().queue().c_str());
  std::printf("kind:        %s\n", j.spec().kind().c_str());
  std::printf("state:       %s\n", StateName(j.state()).c_str());
  std::printf("priority:    %d\n", j.spec().priority());
  std::printf("attempt:     %d\n", j.attempt());
  std::printf("created_at:  %s\n", FormatTime(j.created_at()).c_str());
  std::printf("ready_at:    %s\n", FormatTime(j.ready_at()).c_str());
  std::printf("started_at:  %s\n", FormatTime(j.started_at()).c_str());
  std::printf("finished_at: %s\n", FormatTime(j.finished_at()).c_str());
  if (j.has_timings()) {
    std::printf("queue_wait:  %s\n",
                FormatDuration(j.timings().queue_wait()).c_str());
    std::printf("run_time:    %s\n",
                FormatDuration(j.timings().run_time()).c_str());
    std::printf("total:       %s\n",
                FormatDuration(j.timings().total()).c_str());
  }
  for (const auto& [k, v] : j.spec().labels()) {
    std::printf("label:       %s=%s\n", k.c_str(), v.c_str());
  }
  if (j.spec().depends_on_size() > 0) {
    std::printf("depends_on:  %s\n",
                absl::StrJoin(j.spec().depends_on(), " ").c_str());
  }
  if (j.waiting_for_size() > 0) {
    std::printf("waiting_for: %s\n",
                absl::StrJoin(j.waiting_for(), " ").c_str());
  }
  if (!j.worker().empty()) {
    std::printf("worker:      %s (lease until %s)\n", j.worker().c_str(),
                FormatTime(j.lease_expires_at()).c_str());
  }
  if (j.has_progress()) {
    std::printf("progress:    %.0f%% %s\n", j.progress().fraction() * 100,
                j.progress().message().c_str());
  }
  if (!j.error().empty()) std::printf("error:       %s\n", j.error().c_str());
  if (j.exit_code() != 0) std::printf("exit_code:   %d\n", j.exit_code());
  std::printf("payload:     %zu bytes\n", j.spec().payload().size());
  std::printf("result:      %s\n", j.result().c_str());
}

void PrintJobPage(const v1::ListJobsResponse& r) {
  std::printf("%-16s %-16s %-12s %-9s %8s %7s %s\n", "ID", "QUEUE", "KIND",
              "STATE", "PRIORITY", "ATTEMPT", "CREATED");
  for (const auto& j : r.jobs()) {
    std::printf("%-16s %-16s %-12s %-9s %8d %7d %s\n", j.id().c_str(),
                j.spec().queue().c_str(), j.spec().kind().c_str(),
                StateName(j.state()).c_str(), j.spec().priority(), j.attempt(),
                FormatTime(j.created_at()).c_str());
  }
  if (!r.next_page_token().empty()) {
    std::printf("more: --page-token %s\n", r.next_page_token().c_str());
  }
}

void PrintQueueTable(
    const google::protobuf::RepeatedPtrField<v1::QueueStats>& qs) {
  std::printf(
      "%-24s %-6s %5s %9s %9s %9s %9s %9s %9s %9s %10s %10s %12s %10s\n",
      "QUEUE", "PAUSED", "LIMIT", "WAITING", "SCHEDULED", "READY", "RUNNING",
      "SUCCEEDED", "DEAD", "CANCELLED", "SUBMIT/S", "DONE/S", "RATE/BURST",
      "MAX-QUEUED");
  for (const auto& q : qs) {
    // Starts a second and the bucket's size; "-" without a rate limit.
    char rate[32] = "-";
    if (q.rate() > 0) {
      std::snprintf(rate, sizeof(rate), "%g/%d", q.rate(), q.burst());
    }
    std::printf(
        "%-24s %-6s %5d %9llu %9llu %9llu %9llu %9llu %9llu %9llu %10.1f "
        "%10.1f %12s %10lld\n",
        q.name().c_str(), q.paused() ? "yes" : "no", q.max_concurrency(),
        static_cast<unsigned long long>(q.waiting()),
        static_cast<unsigned long long>(q.scheduled()),
        static_cast<unsigned long long>(q.ready()),
        static_cast<unsigned long long>(q.running()),
        static_cast<unsigned long long>(q.succeeded()),
        static_cast<unsigned long long>(q.dead()),
        static_cast<unsigned long long>(q.cancelled()), q.submit_rate(),
        q.complete_rate(), rate, static_cast<long long>(q.max_queued()));
  }
}

void PrintQueue(const v1::QueueStats& q) {
  google::protobuf::RepeatedPtrField<v1::QueueStats> one;
  *one.Add() = q;
  PrintQueueTable(one);
}

void PrintQueues(const v1::ListQueuesResponse& r) {
  PrintQueueTable(r.queues());
}

namespace {

void PrintQuantiles(const char* name, const v1::Quantiles& q) {
  std::printf("%-11s p50 %s  p90 %s  p99 %s  max %s  (n=%llu)\n", name,
              FormatDuration(q.p50()).c_str(), FormatDuration(q.p90()).c_str(),
              FormatDuration(q.p99()).c_str(), FormatDuration(q.max()).c_str(),
              static_cast<unsigned long long>(q.count()));
}

// The log's figures; the log in PostgreSQL (`postgres`) stores a group of
// batches in one transaction where the file log syncs, and holds
// generations where the file log holds segments.
void PrintStorageStats(const std::string& storage, const v1::StorageStats& w) {
  const bool pg = storage == "postgres";
  std::printf("%-11s %s  sync=%s  %s %llu  bytes %llu (live %llu, dead %llu)\n",
              pg ? "postgres" : "wal", w.data_dir().c_str(),
              w.sync() ? "fsync" : "none", pg ? "generations" : "segments",
              static_cast<unsigned long long>(w.segments()),
              static_cast<unsigned long long>(w.log_bytes()),
              static_cast<unsigned long long>(w.live_bytes()),
              static_cast<unsigned long long>(w.dead_bytes()));
  std::printf(
      "            records %llu  writes %llu  %s %llu  records/write "
      "p50 %llu p99 %llu max %llu\n",
      static_cast<unsigned long long>(w.records_written()),
      static_cast<unsigned long long>(w.writes()),
      pg ? "transactions" : "fsyncs",
      static_cast<unsigned long long>(w.fsyncs()),
      static_cast<unsigned long long>(w.group_records().p50()),
      static_cast<unsigned long long>(w.group_records().p99()),
      static_cast<unsigned long long>(w.group_records().max()));
  if (pg) {
    PrintQuantiles("transaction", w.fsync_latency());
  } else if (w.sync()) {
    PrintQuantiles("fsync", w.fsync_latency());
  }
  if (!w.failure().empty()) {
    std::printf("FAILED      %s\n", w.failure().c_str());
  }
  if (!w.stalled().empty()) {
    std::printf("STALLED     %s (retrying; no job starts, changes refused)\n",
                w.stalled().c_str());
  }
}

void PrintKinds(const v1::GetStatsResponse& s) {
  std::printf("\nremote workers %u\n", s.remote_workers());
  std::printf("%-32s %9s %9s %8s %9s\n", "KIND", "WAITING", "RUNNING",
              "WORKERS", "CAPACITY");
  for (const auto& k : s.kinds()) {
    std::printf("%-32s %9llu %9llu %8u %9llu\n", k.kind().c_str(),
                static_cast<unsigned long long>(k.waiting()),
                static_cast<unsigned long long>(k.running()), k.workers(),
                static_cast<unsigned long long>(k.capacity()));
  }
}

}  // namespace

void PrintStats(const v1::GetStatsResponse& s) {
  std::printf("jobqd %s  up %s  storage %s  workers %d  streams %llu\n",
              s.version().c_str(), FormatDuration(s.uptime()).c_str(),
              s.storage().c_str(), s.workers(),
              static_cast<unsigned long long>(s.open_streams()));
  for (const std::string& w : s.warnings()) {
    std::printf("WARNING: %s\n", w.c_str());
  }
  const auto& t = s.total();
  std::printf("submitted %llu  completed %llu  submit/s %.1f  done/s %.1f\n",
              static_cast<unsigned long long>(t.submitted_total()),
              static_cast<unsigned long long>(t.completed_total()),
              t.submit_rate(), t.complete_rate());
  PrintQuantiles("queue_wait", t.queue_wait());
  PrintQuantiles("run_time", t.run_time());
  if (s.has_storage_stats()) {
    PrintStorageStats(s.storage(), s.storage_stats());
  }
  std::printf("\n");
  PrintQueueTable(s.queues());
  if (s.kinds_size() > 0) PrintKinds(s);
}

void PrintWorkers(const v1::ListWorkersResponse& r) {
  std::printf("%-24s %-24s %-16s %6s %6s %10s %10s %-24s %s\n", "WORKER",
              "KINDS", "QUEUES", "SLOTS", "HELD", "SUCCEEDED", "FAILED",
              "LAST HEARD", "PEER");
  for (const auto& w : r.workers()) {
    std::string kinds = absl::StrJoin(w.kinds(), ",");
    std::string queues =
        w.queues().empty() ? "*" : absl::StrJoin(w.queues(), ",");
    std::printf("%-24s %-24s %-16s %6d %6u %10llu %10llu %-24s %s%s\n",
                w.worker_id().c_str(), kinds.c_str(), queues.c_str(),
                w.concurrency(), w.in_flight(),
                static_cast<unsigned long long>(w.succeeded_total()),
                static_cast<unsigned long long>(w.failed_total()),
                FormatTime(w.last_heartbeat()).c_str(), w.peer().c_str(),
                w.draining() ? " (draining)" : "");
  }
}

}  // namespace jobq::ctl
