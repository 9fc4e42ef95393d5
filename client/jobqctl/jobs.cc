// The verbs on jobs: submit, watch, get, cancel, list.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/jobqctl/output.h"
#include "client/jobqctl/verbs.h"

namespace jobq::ctl {
namespace {

struct SubmitFlags {
  std::string queue, kind, delay, timeout, key, payload, backoff;
  int priority = 0, retries = 0;
  std::vector<std::string> labels, after;
  bool wait = false;
};

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

// TEXT, @FILE or - for stdin.
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

// Fills `spec` from the flags. Returns 0, or the exit code of the usage
// error or failure it printed.
int BuildSpec(const SubmitFlags& f, v1::JobSpec* spec) {
  spec->set_queue(f.queue);
  spec->set_kind(f.kind);
  spec->set_priority(f.priority);
  if (!f.delay.empty() && !ParseDurationFlag(f.delay, spec->mutable_delay())) {
    return Usage("--delay: a duration such as 30s");
  }
  if (!f.timeout.empty() &&
      !ParseDurationFlag(f.timeout, spec->mutable_timeout())) {
    return Usage("--timeout: a duration such as 30s");
  }
  if (f.retries != 0) spec->mutable_retry()->set_max_attempts(f.retries);
  if (!f.backoff.empty() &&
      !ParseDurationFlag(f.backoff,
                         spec->mutable_retry()->mutable_initial_backoff())) {
    return Usage("--backoff: a duration such as 1s");
  }
  spec->set_idempotency_key(f.key);
  for (const auto& l : f.labels) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(l, absl::MaxSplits('=', 1));
    if (l.find('=') == std::string::npos) return Usage("--label: k=v");
    (*spec->mutable_labels())[kv.first] = kv.second;
  }
  for (const auto& id : f.after) spec->add_depends_on(id);
  if (!f.payload.empty()) {
    if (auto s = ReadPayload(f.payload, spec->mutable_payload()); !s.ok()) {
      return Fail(s);
    }
  }
  return 0;
}

// submit --wait: the job's id first on stdout, as without --wait (JSON
// events carry it already); the events on stderr; the result last on
// stdout. Exits 0 only if the job succeeded.
int SubmitAndWait(client::Client& c, const v1::JobSpec& spec, bool json) {
  v1::JobEvent last;
  bool id_printed = false;
  auto s = c.SubmitAndWatch(spec, [&](const v1::JobEvent& e) {
    if (!json && !id_printed) {
      std::printf("%s\n", e.job_id().c_str());
      std::fflush(stdout);
      id_printed = true;
    }
    PrintEvent(e, json, json ? stdout : stderr);
    last = e;
    return true;
  });
  if (!s.ok()) return Fail(s);
  if (!json && !last.result().empty()) {
    std::fwrite(last.result().data(), 1, last.result().size(), stdout);
  }
  return last.state() == v1::JOB_STATE_SUCCEEDED ? 0 : 1;
}

int Submit(const SubmitFlags& f, Connection& connection) {
  auto c = connection.client();
  if (!c.ok()) return Fail(c.status());
  v1::JobSpec spec;
  if (int code = BuildSpec(f, &spec); code != 0) return code;
  if (f.wait) return SubmitAndWait(**c, spec, connection.json());
  auto r = (*c)->Submit(spec);
  if (!r.ok()) return Fail(r.status());
  if (connection.json()) {
    std::printf("%s\n", Json(*r).c_str());
  } else {
    std::printf("%s%s\n", r->job_id().c_str(),
                r->duplicate() ? " (duplicate)" : "");
  }
  return 0;
}

void AddSubmit(CLI::App& app, VerbTable& verbs) {
  auto* cmd = app.add_subcommand("submit", "submit a job");
  auto f = std::make_shared<SubmitFlags>();
  cmd->add_option("--queue,-q", f->queue, "queue (default \"default\")");
  cmd->add_option("--kind,-k", f->kind, "handler kind")->required();
  cmd->add_option("--priority,-p", f->priority, "higher runs first");
  cmd->add_option("--delay", f->delay, "run after this long, e.g. 30s");
  cmd->add_option("--timeout", f->timeout, "fail a run that takes longer");
  cmd->add_option("--retries", f->retries, "attempts allowed in all");
  cmd->add_option("--backoff", f->backoff, "wait before the first retry");
  cmd->add_option("--idempotency-key", f->key, "deduplication key");
  cmd->add_option("--label,-l", f->labels, "k=v, repeatable");
  cmd->add_option("--payload", f->payload, "TEXT, @FILE or - for stdin");
  cmd->add_option("--after,--depends-on", f->after,
                  "run once this job has succeeded (its result is handed "
                  "over); repeatable");
  cmd->add_flag("--wait,-w", f->wait,
                "stream the job's events; exit 0 only if it succeeds");
  verbs.Add(cmd,
            [f](Connection& connection) { return Submit(*f, connection); });
}

struct WatchFlags {
  std::vector<std::string> ids;
  std::string queue;
};

int Watch(const WatchFlags& f, Connection& connection) {
  auto c = connection.client();
  if (!c.ok()) return Fail(c.status());
  if (f.ids.empty() && f.queue.empty()) {
    return Usage("watch: give job ids or --queue");
  }
  v1::WatchRequest req;
  for (const auto& id : f.ids) req.add_job_ids(id);
  req.set_queue(f.queue);
  auto s = (*c)->Watch(req, [&](const v1::JobEvent& e) {
    PrintEvent(e, connection.json(), stdout);
    return true;
  });
  return s.ok() ? 0 : Fail(s);
}

void AddWatch(CLI::App& app, VerbTable& verbs) {
  auto* cmd = app.add_subcommand("watch", "stream job or queue events");
  auto f = std::make_shared<WatchFlags>();
  cmd->add_option("ids", f->ids, "job ids");
  cmd->add_option("--queue,-q", f->queue, "watch a whole queue");
  verbs.Add(cmd, [f](Connection& connection) { return Watch(*f, connection); });
}

// get and cancel: both answer with the job.
void AddGetAndCancel(CLI::App& app, VerbTable& verbs) {
  auto id = std::make_shared<std::string>();
  auto* get = app.add_subcommand("get", "show a job");
  get->add_option("id", *id, "job id")->required();
  auto* cancel = app.add_subcommand("cancel", "cancel a job");
  cancel->add_option("id", *id, "job id")->required();
  auto run = [id](bool is_cancel, Connection& connection) {
    auto c = connection.client();
    if (!c.ok()) return Fail(c.status());
    auto r = is_cancel ? (*c)->CancelJob(*id) : (*c)->GetJob(*id);
    if (!r.ok()) return Fail(r.status());
    Show(*r, connection.json(), PrintJob);
    return 0;
  };
  verbs.Add(get,
            [run](Connection& connection) { return run(false, connection); });
  verbs.Add(cancel,
            [run](Connection& connection) { return run(true, connection); });
}

struct ListFlags {
  std::string queue, state, page_token;
  int limit = 100;
};

int List(const ListFlags& f, Connection& connection) {
  auto c = connection.client();
  if (!c.ok()) return Fail(c.status());
  v1::ListJobsRequest req;
  req.set_queue(f.queue);
  if (!f.state.empty()) {
    v1::JobState st;
    if (!client::ParseState(f.state, &st)) {
      return Usage(
          "--state: one of waiting, scheduled, ready, running, succeeded, "
          "dead, cancelled");
    }
    req.set_state(st);
  }
  req.set_page_size(f.limit);
  req.set_page_token(f.page_token);
  auto r = (*c)->ListJobs(req);
  if (!r.ok()) return Fail(r.status());
  Show(*r, connection.json(), PrintJobPage);
  return 0;
}

void AddList(CLI::App& app, VerbTable& verbs) {
  auto* cmd = app.add_subcommand("list", "list jobs");
  auto f = std::make_shared<ListFlags>();
  cmd->add_option("--queue,-q", f->queue, "only this queue");
  cmd->add_option("--state,-s", f->state, "only this state, e.g. ready");
  cmd->add_option("--limit,-n", f->limit, "page size")->capture_default_str();
  cmd->add_option("--page-token", f->page_token, "continue a listing");
  verbs.Add(cmd, [f](Connection& connection) { return List(*f, connection); });
}

}  // namespace

void AddJobVerbs(CLI::App& app, VerbTable& verbs) {
  AddSubmit(app, verbs);
  AddWatch(app, verbs);
  AddGetAndCancel(app, verbs);
  AddList(app, verbs);
}

}  // namespace jobq::ctl
