// jobqctl: the admin and scripting CLI of jobq.
#include <google/protobuf/util/json_util.h>
#include <openssl/rand.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/connect_flags.h"
#include "common/sha256.h"

namespace {

using jobq::client::Client;
using jobq::client::StateName;
namespace v1 = jobq::v1;

struct Globals {
  std::string addr;
  jobq::client::TlsOptions tls;
  std::string token_file;
  bool json = false;
  int64_t timeout_ms = 30'000;
};

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

bool ParseDurationFlag(const std::string& text,
                       google::protobuf::Duration* out) {
  absl::Duration d;
  // Negative and infinite durations are usage errors here, before jobqd
  // would refuse them.
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return false;
  }
  out->set_seconds(absl::IDivDuration(d, absl::Seconds(1), &d));
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return true;
}

absl::Status ReadPayload(const std::string& arg, std::string* out) {
  if (arg == "-") {
    out->assign(std::istreambuf_iterator<char>(std::cin), {});
    return absl::OkStatus();
  }
  if (!arg.empty() && arg[0] == '@') {
    std::ifstream in(arg.substr(1), std::ios::binary);
    if (!in) {
      return absl::NotFoundError("payload: cannot read " + arg.substr(1));
    }
    out->assign(std::istreambuf_iterator<char>(in), {});
    return absl::OkStatus();
  }
  *out = arg;
  return absl::OkStatus();
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

void PrintQueueTable(
    const google::protobuf::RepeatedPtrField<v1::QueueStats>& qs) {
  std::printf("%-24s %-6s %5s %9s %9s %9s %9s %9s %9s %10s %10s %10s\n",
              "QUEUE", "PAUSED", "LIMIT", "SCHEDULED", "READY", "RUNNING",
              "SUCCEEDED", "DEAD", "CANCELLED", "SUBMIT/S", "DONE/S",
              "MAX-QUEUED");
  for (const auto& q : qs) {
    std::printf(
        "%-24s %-6s %5d %9llu %9llu %9llu %9llu %9llu %9llu %10.1f %10.1f "
        "%10lld\n",
        q.name().c_str(), q.paused() ? "yes" : "no", q.max_concurrency(),
        static_cast<unsigned long long>(q.scheduled()),
        static_cast<unsigned long long>(q.ready()),
        static_cast<unsigned long long>(q.running()),
        static_cast<unsigned long long>(q.succeeded()),
        static_cast<unsigned long long>(q.dead()),
        static_cast<unsigned long long>(q.cancelled()), q.submit_rate(),
        q.complete_rate(), static_cast<long long>(q.max_queued()));
  }
}

void PrintQuantiles(const char* name, const v1::Quantiles& q) {
  std::printf("%-11s p50 %s  p90 %s  p99 %s  max %s  (n=%llu)\n", name,
              FormatDuration(q.p50()).c_str(), FormatDuration(q.p90()).c_str(),
              FormatDuration(q.p99()).c_str(), FormatDuration(q.max()).c_str(),
              static_cast<unsigned long long>(q.count()));
}

void PrintStats(const v1::GetStatsResponse& s, bool json) {
  if (json) {
    std::printf("%s\n", Json(s).c_str());
    return;
  }
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
    const auto& w = s.storage_stats();
    std::printf(
        "wal         %s  sync=%s  segments %llu  bytes %llu (live %llu, "
        "dead %llu)\n",
        w.data_dir().c_str(), w.sync() ? "fsync" : "none",
        static_cast<unsigned long long>(w.segments()),
        static_cast<unsigned long long>(w.log_bytes()),
        static_cast<unsigned long long>(w.live_bytes()),
        static_cast<unsigned long long>(w.dead_bytes()));
    std::printf(
        "            records %llu  writes %llu  fsyncs %llu  records/write "
        "p50 %llu p99 %llu max %llu\n",
        static_cast<unsigned long long>(w.records_written()),
        static_cast<unsigned long long>(w.writes()),
        static_cast<unsigned long long>(w.fsyncs()),
        static_cast<unsigned long long>(w.group_records().p50()),
        static_cast<unsigned long long>(w.group_records().p99()),
        static_cast<unsigned long long>(w.group_records().max()));
    if (w.sync()) PrintQuantiles("fsync", w.fsync_latency());
    if (!w.failure().empty()) {
      std::printf("FAILED      %s\n", w.failure().c_str());
    }
    if (!w.stalled().empty()) {
      std::printf("STALLED     %s (retrying; no job starts, changes refused)\n",
                  w.stalled().c_str());
    }
  }
  std::printf("\n");
  PrintQueueTable(s.queues());
  if (s.kinds_size() > 0) {
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

// jobqctl token new: a random token, and its entry for the tokens file.
int NewToken(const std::string& name, const std::vector<std::string>& roles,
             const std::vector<std::string>& queues) {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return Fail(absl::InternalError("no random bytes from OpenSSL"));
  }
  std::string token =
      "jq_" + absl::WebSafeBase64Escape(absl::string_view(
                  reinterpret_cast<const char*>(bytes), sizeof bytes));
  std::printf("%s\n", token.c_str());
  std::fprintf(stderr,
               "# Give the line above to the client (--token-file or "
               "JOBQ_TOKEN); it is not stored anywhere.\n"
               "# Add this to jobqd's tokens file, then send jobqd SIGHUP:\n");
  std::printf("  - name: %s\n    sha256: %s\n    roles: [%s]\n", name.c_str(),
              jobq::Sha256Hex(token).c_str(),
              absl::StrJoin(roles, ", ").c_str());
  if (!queues.empty()) {
    std::vector<std::string> quoted;
    for (const std::string& q : queues) quoted.push_back("\"" + q + "\"");
    std::printf("    queues: [%s]\n", absl::StrJoin(quoted, ", ").c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jobqctl: submit, watch and administer jobq"};
  app.require_subcommand(1);
  // Global flags may also follow the verb (`jobqctl queues --json`): a flag
  // a subcommand does not know falls through to the app. Set before the
  // subcommands are added, which inherit it.
  app.fallthrough();
  Globals g;
  const char* env_addr = std::getenv("JOBQ_ADDR");
  g.addr = env_addr != nullptr ? env_addr : "127.0.0.1:7070";
  app.add_option("--addr", g.addr, "jobqd address (env JOBQ_ADDR)")
      ->capture_default_str();
  app.add_flag("--json", g.json, "JSON output for scripts");
  app.add_option("--timeout-ms", g.timeout_ms, "deadline of each call")
      ->capture_default_str();
  jobq::client::AddConnectFlags(app, &g.tls, &g.token_file);

  // submit
  auto* submit = app.add_subcommand("submit", "submit a job");
  std::string queue, kind, delay, timeout, key, payload_arg, backoff;
  int priority = 0, retries = 0;
  std::vector<std::string> labels;
  bool wait = false;
  submit->add_option("--queue,-q", queue, "queue (default \"default\")");
  submit->add_option("--kind,-k", kind, "handler kind")->required();
  submit->add_option("--priority,-p", priority, "higher runs first");
  submit->add_option("--delay", delay, "run after this long, e.g. 30s");
  submit->add_option("--timeout", timeout, "fail a run that takes longer");
  submit->add_option("--retries", retries, "attempts allowed in all");
  submit->add_option("--backoff", backoff, "wait before the first retry");
  submit->add_option("--idempotency-key", key, "deduplication key");
  submit->add_option("--label,-l", labels, "k=v, repeatable");
  submit->add_option("--payload", payload_arg, "TEXT, @FILE or - for stdin");
  submit->add_flag("--wait,-w", wait,
                   "stream the job's events; exit 0 only if it succeeds");

  auto* watch = app.add_subcommand("watch", "stream job or queue events");
  std::vector<std::string> watch_ids;
  std::string watch_queue;
  watch->add_option("ids", watch_ids, "job ids");
  watch->add_option("--queue,-q", watch_queue, "watch a whole queue");

  auto* get = app.add_subcommand("get", "show a job");
  std::string job_id;
  get->add_option("id", job_id, "job id")->required();

  auto* cancel = app.add_subcommand("cancel", "cancel a job");
  cancel->add_option("id", job_id, "job id")->required();

  auto* list = app.add_subcommand("list", "list jobs");
  std::string list_queue, list_state, page_token;
  int limit = 100;
  list->add_option("--queue,-q", list_queue, "only this queue");
  list->add_option("--state,-s", list_state, "only this state, e.g. ready");
  list->add_option("--limit,-n", limit, "page size")->capture_default_str();
  list->add_option("--page-token", page_token, "continue a listing");

  auto* health =
      app.add_subcommand("health", "exit 0 only when jobqd reports SERVING");
  std::string health_wait;
  health->add_option("--wait", health_wait,
                     "wait up to this long (e.g. 30s) for SERVING, through "
                     "start-up and recovery");
  auto* stats = app.add_subcommand("stats", "server statistics");
  bool watch_stats = false;
  std::string interval = "2s";
  int refreshes = 0;
  stats->add_flag("--watch,-w", watch_stats, "refresh like top until Ctrl-C");
  stats->add_option("--interval", interval, "time between refreshes")
      ->capture_default_str();
  stats->add_option("--count", refreshes, "stop after this many (0: never)");
  auto* queues = app.add_subcommand("queues", "list queues");
  auto* workers =
      app.add_subcommand("workers", "list connected remote workers");
  auto* pause = app.add_subcommand("pause", "pause a queue");
  std::string q_arg;
  pause->add_option("queue", q_arg, "queue")->required();
  auto* resume = app.add_subcommand("resume", "resume a queue");
  resume->add_option("queue", q_arg, "queue")->required();
  auto* limit_cmd = app.add_subcommand(
      "limit",
      "set a queue's max concurrency and/or max queued jobs (give either)");
  int max_conc = 0;
  int64_t max_queued = -1;
  limit_cmd->add_option("queue", q_arg, "queue")->required();
  auto* o_max_conc = limit_cmd->add_option(
      "max", max_conc, "jobs at once; 0: no limit; omitted: unchanged");
  auto* o_max_queued = limit_cmd->add_option(
      "--max-queued", max_queued,
      "unfinished jobs the queue accepts; 0: jobqd's --max-queued");

  auto* token_cmd = app.add_subcommand(
      "token", "make tokens for jobqd's tokens file (no call to jobqd)");
  token_cmd->require_subcommand(1);
  auto* token_new = token_cmd->add_subcommand(
      "new", "print a new random token, then its entry for the tokens file");
  std::string token_name;
  std::vector<std::string> token_roles, token_queues;
  token_new->add_option("name", token_name, "who the token is for")->required();
  token_new->add_option("--role,-r", token_roles, "submit, read, admin, worker")
      ->required()
      ->check(CLI::IsMember({"submit", "read", "admin", "worker"}));
  token_new->add_option("--queue,-q", token_queues,
                        "queue or pattern (e.g. 'billing.*'); default: all");
  auto* token_hash = token_cmd->add_subcommand(
      "hash", "print the SHA-256 of the token read from stdin");

  // Every usage error exits 2, CLI11's own included (it would exit with
  // its error's number); --help exits 0.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (limit_cmd->parsed() && o_max_conc->count() == 0 &&
      o_max_queued->count() == 0) {
    return Usage("limit: give max (jobs at once), --max-queued, or both");
  }

  if (token_new->parsed())
    return NewToken(token_name, token_roles, token_queues);
  if (token_hash->parsed()) {
    std::string line;
    std::getline(std::cin, line);
    while (!line.empty() &&
           std::isspace(static_cast<unsigned char>(line.back()))) {
      line.pop_back();
    }
    if (line.empty()) return Usage("token hash: no token on stdin");
    std::printf("%s\n", jobq::Sha256Hex(line).c_str());
    return 0;
  }

  jobq::client::ClientOptions opts;
  opts.timeout_ms = g.timeout_ms;
  auto token = jobq::client::ResolveToken(g.token_file);
  if (!token.ok()) return Fail(token.status());
  auto channel = jobq::client::MakeChannel(g.addr, g.tls, *token);
  if (!channel.ok()) return Fail(channel.status());
  Client client(*channel, opts);

  if (submit->parsed()) {
    v1::JobSpec spec;
    spec.set_queue(queue);
    spec.set_kind(kind);
    spec.set_priority(priority);
    if (!delay.empty() && !ParseDurationFlag(delay, spec.mutable_delay())) {
      return Usage("--delay: a duration such as 30s");
    }
    if (!timeout.empty() &&
        !ParseDurationFlag(timeout, spec.mutable_timeout())) {
      return Usage("--timeout: a duration such as 30s");
    }
    if (retries != 0) spec.mutable_retry()->set_max_attempts(retries);
    if (!backoff.empty() &&
        !ParseDurationFlag(backoff,
                           spec.mutable_retry()->mutable_initial_backoff())) {
      return Usage("--backoff: a duration such as 1s");
    }
    spec.set_idempotency_key(key);
    for (const auto& l : labels) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(l, absl::MaxSplits('=', 1));
      if (l.find('=') == std::string::npos) return Usage("--label: k=v");
      (*spec.mutable_labels())[kv.first] = kv.second;
    }
    if (!payload_arg.empty()) {
      if (auto s = ReadPayload(payload_arg, spec.mutable_payload()); !s.ok()) {
        return Fail(s);
      }
    }
    if (!wait) {
      auto r = client.Submit(spec);
      if (!r.ok()) return Fail(r.status());
      if (g.json) {
        std::printf("%s\n", Json(*r).c_str());
      } else {
        std::printf("%s%s\n", r->job_id().c_str(),
                    r->duplicate() ? " (duplicate)" : "");
      }
      return 0;
    }
    // The job's id first on stdout, as without --wait (JSON events carry
    // it already); the events on stderr; the result last on stdout.
    v1::JobEvent last;
    bool id_printed = false;
    auto s = client.SubmitAndWatch(spec, [&](const v1::JobEvent& e) {
      if (!g.json && !id_printed) {
        std::printf("%s\n", e.job_id().c_str());
        std::fflush(stdout);
        id_printed = true;
      }
      PrintEvent(e, g.json, g.json ? stdout : stderr);
      last = e;
      return true;
    });
    if (!s.ok()) return Fail(s);
    if (!g.json && !last.result().empty()) {
      std::fwrite(last.result().data(), 1, last.result().size(), stdout);
    }
    return last.state() == v1::JOB_STATE_SUCCEEDED ? 0 : 1;
  }

  if (watch->parsed()) {
    if (watch_ids.empty() && watch_queue.empty()) {
      return Usage("watch: give job ids or --queue");
    }
    v1::WatchRequest req;
    for (const auto& id : watch_ids) req.add_job_ids(id);
    req.set_queue(watch_queue);
    auto s = client.Watch(req, [&](const v1::JobEvent& e) {
      PrintEvent(e, g.json, stdout);
      return true;
    });
    return s.ok() ? 0 : Fail(s);
  }

  if (get->parsed() || cancel->parsed()) {
    auto r = get->parsed() ? client.GetJob(job_id) : client.CancelJob(job_id);
    if (!r.ok()) return Fail(r.status());
    if (g.json) {
      std::printf("%s\n", Json(*r).c_str());
    } else {
      PrintJob(*r);
    }
    return 0;
  }

  if (list->parsed()) {
    v1::ListJobsRequest req;
    req.set_queue(list_queue);
    if (!list_state.empty()) {
      v1::JobState st;
      if (!jobq::client::ParseState(list_state, &st)) {
        return Usage(
            "--state: one of scheduled, ready, running, succeeded, "
            "dead, cancelled");
      }
      req.set_state(st);
    }
    req.set_page_size(limit);
    req.set_page_token(page_token);
    auto r = client.ListJobs(req);
    if (!r.ok()) return Fail(r.status());
    if (g.json) {
      std::printf("%s\n", Json(*r).c_str());
      return 0;
    }
    std::printf("%-16s %-16s %-12s %-9s %8s %7s %s\n", "ID", "QUEUE", "KIND",
                "STATE", "PRIORITY", "ATTEMPT", "CREATED");
    for (const auto& j : r->jobs()) {
      std::printf("%-16s %-16s %-12s %-9s %8d %7d %s\n", j.id().c_str(),
                  j.spec().queue().c_str(), j.spec().kind().c_str(),
                  StateName(j.state()).c_str(), j.spec().priority(),
                  j.attempt(), FormatTime(j.created_at()).c_str());
    }
    if (!r->next_page_token().empty()) {
      std::printf("more: --page-token %s\n", r->next_page_token().c_str());
    }
    return 0;
  }

  if (health->parsed() && !health_wait.empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(health_wait, &d) || d <= absl::ZeroDuration() ||
        d == absl::InfiniteDuration()) {
      return Usage("--wait: a duration such as 30s");
    }
    if (auto s = client.WaitUntilServing(absl::ToInt64Milliseconds(d));
        !s.ok()) {
      return Fail(s);
    }
    std::printf("SERVING\n");
    return 0;
  }
  if (health->parsed()) {
    auto r = client.Healthy();
    if (!r.ok()) return Fail(r.status());
    std::printf("%s\n", *r ? "SERVING" : "NOT_SERVING");
    return *r ? 0 : 1;
  }

  if (stats->parsed()) {
    absl::Duration every;
    if (!absl::ParseDuration(interval, &every) ||
        every <= absl::ZeroDuration()) {
      return Usage("--interval: a duration such as 2s");
    }
    for (int n = 1;; ++n) {
      auto r = client.GetStats();
      if (!r.ok()) return Fail(r.status());
      if (watch_stats && !g.json) std::printf("\033[H\033[2J");  // Clear.
      PrintStats(*r, g.json);
      std::fflush(stdout);
      if (!watch_stats || (refreshes > 0 && n >= refreshes)) return 0;
      absl::SleepFor(every);
    }
  }

  if (workers->parsed()) {
    auto r = client.ListWorkers();
    if (!r.ok()) return Fail(r.status());
    if (g.json) {
      std::printf("%s\n", Json(*r).c_str());
    } else {
      PrintWorkers(*r);
    }
    return 0;
  }

  if (queues->parsed()) {
    auto r = client.ListQueues();
    if (!r.ok()) return Fail(r.status());
    if (g.json) {
      std::printf("%s\n", Json(*r).c_str());
    } else {
      PrintQueueTable(r->queues());
    }
    return 0;
  }

  if (limit_cmd->parsed() && o_max_conc->count() == 0) {
    // SetQueueLimits always sets max_concurrency: keep the queue's own.
    auto listed = client.ListQueues();
    if (!listed.ok()) return Fail(listed.status());
    auto it = std::find_if(
        listed->queues().begin(), listed->queues().end(),
        [&](const v1::QueueStats& q) { return q.name() == q_arg; });
    if (it == listed->queues().end()) {
      return Fail(absl::NotFoundError(
          absl::StrCat("queue: \"", absl::CEscape(q_arg),
                       "\" does not exist (pause it to create it)")));
    }
    max_conc = it->max_concurrency();
  }
  if (pause->parsed() || resume->parsed() || limit_cmd->parsed()) {
    auto r = pause->parsed()    ? client.PauseQueue(q_arg)
             : resume->parsed() ? client.ResumeQueue(q_arg)
                                : client.SetQueueLimits(
                                      q_arg, max_conc,
                                      o_max_queued->count()
                                          ? std::optional<int64_t>(max_queued)
                                          : std::nullopt);
    if (!r.ok()) return Fail(r.status());
    if (g.json) {
      std::printf("%s\n", Json(*r).c_str());
    } else {
      google::protobuf::RepeatedPtrField<v1::QueueStats> one;
      *one.Add() = *r;
      PrintQueueTable(one);
    }
    return 0;
  }
  return 0;
}
