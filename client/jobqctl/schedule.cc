// The verbs of the ScheduleService: schedule create, ls, get, rm, pause,
// resume, trigger.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/jobqctl/output.h"
#include "client/jobqctl/verbs.h"
#include "client/schedules.h"

namespace jobq::ctl {
namespace {

struct CreateFlags {
  std::string name, cron, tz, queue, kind, payload, overlap = "allow",
                                                    catch_up = "skip";
  int priority = 0;
  bool paused = false;
};

void PrintSchedule(const v1::Schedule& s) {
  std::printf("name:        %s\n", s.name().c_str());
  std::printf("spec:        %s\n", s.spec().c_str());
  std::printf("time zone:   %s\n",
              s.time_zone().empty() ? "UTC" : s.time_zone().c_str());
  std::printf("queue:       %s\n", s.job().queue().c_str());
  std::printf("kind:        %s\n", s.job().kind().c_str());
  std::printf("overlap:     %s\n",
              s.overlap() == v1::OVERLAP_SKIP ? "skip" : "allow");
  std::printf("catch-up:    %s\n",
              s.catch_up() == v1::CATCH_UP_ONCE ? "once" : "skip");
  std::printf("paused:      %s\n", s.paused() ? "yes" : "no");
  std::printf("next run:    %s\n", FormatTime(s.next_run()).c_str());
  std::printf("last job:    %s\n",
              s.last_job_id().empty() ? "-" : s.last_job_id().c_str());
  std::printf("last run:    %s\n", FormatTime(s.last_run()).c_str());
}

void PrintScheduleTable(const v1::ListSchedulesResponse& r) {
  std::printf("%-24s %-20s %-18s %-16s %-6s %-24s %s\n", "NAME", "SPEC",
              "TIME ZONE", "QUEUE", "PAUSED", "NEXT RUN", "LAST JOB");
  for (const auto& s : r.schedules()) {
    std::printf("%-24s %-20s %-18s %-16s %-6s %-24s %s\n", s.name().c_str(),
                s.spec().c_str(),
                s.time_zone().empty() ? "UTC" : s.time_zone().c_str(),
                s.job().queue().c_str(), s.paused() ? "yes" : "no",
                FormatTime(s.next_run()).c_str(),
                s.last_job_id().empty() ? "-" : s.last_job_id().c_str());
  }
}

void PrintTrigger(const v1::TriggerScheduleResponse& r) {
  std::printf("%s\n", r.job_id().c_str());
}

int Create(const CreateFlags& f, Connection& connection) {
  v1::Schedule s;
  s.set_name(f.name);
  s.set_spec(f.cron);
  s.set_time_zone(f.tz);
  s.set_paused(f.paused);
  v1::JobSpec* job = s.mutable_job();
  job->set_queue(f.queue);
  job->set_kind(f.kind);
  job->set_priority(f.priority);
  if (!f.payload.empty() && f.payload[0] == '@') {
    std::ifstream in(f.payload.substr(1), std::ios::binary);
    if (!in) return Usage("--payload: cannot read " + f.payload.substr(1));
    job->set_payload(std::string(std::istreambuf_iterator<char>(in), {}));
  } else {
    job->set_payload(f.payload);
  }
  if (f.overlap == "allow") {
    s.set_overlap(v1::OVERLAP_ALLOW);
  } else if (f.overlap == "skip") {
    s.set_overlap(v1::OVERLAP_SKIP);
  } else {
    return Usage("--overlap: allow or skip");
  }
  if (f.catch_up == "skip") {
    s.set_catch_up(v1::CATCH_UP_SKIP);
  } else if (f.catch_up == "once") {
    s.set_catch_up(v1::CATCH_UP_ONCE);
  } else {
    return Usage("--catch-up: skip or once");
  }
  auto c = connection.client();
  if (!c.ok()) return Fail(c.status());
  client::ScheduleClient schedules(*c);
  auto r = schedules.Create(s);
  if (!r.ok()) return Fail(r.status());
  Show(*r, connection.json(), PrintSchedule);
  return 0;
}

// A verb that names one schedule and shows the answer.
template <typename Response>
void AddByName(CLI::App* parent, VerbTable& verbs, const char* name,
               const char* help,
               absl::StatusOr<Response> (*call)(client::ScheduleClient&,
                                                const std::string&),
               void (*print)(const Response&)) {
  auto* cmd = parent->add_subcommand(name, help);
  auto schedule = std::make_shared<std::string>();
  cmd->add_option("name", *schedule, "schedule name")->required();
  verbs.Add(cmd, [schedule, call, print](Connection& connection) {
    auto c = connection.client();
    if (!c.ok()) return Fail(c.status());
    client::ScheduleClient schedules(*c);
    auto r = call(schedules, *schedule);
    if (!r.ok()) return Fail(r.status());
    Show(*r, connection.json(), print);
    return 0;
  });
}

}  // namespace

void AddScheduleVerbs(CLI::App& app, VerbTable& verbs) {
  auto* group = app.add_subcommand("schedule", "recurring jobs (cron)");
  group->require_subcommand(1);

  auto* create = group->add_subcommand("create", "create a schedule");
  auto f = std::make_shared<CreateFlags>();
  create->add_option("name", f->name, "schedule name")->required();
  create
      ->add_option("--cron", f->cron,
                   "five cron fields, @daily-style macro or '@every 10s'")
      ->required();
  create->add_option("--tz", f->tz, "IANA time zone (default UTC)");
  create->add_option("--queue,-q", f->queue, "queue (default \"default\")");
  create->add_option("--kind,-k", f->kind, "handler kind")->required();
  create->add_option("--payload", f->payload, "TEXT or @FILE");
  create->add_option("--priority,-p", f->priority, "higher runs first");
  create
      ->add_option("--overlap", f->overlap,
                   "allow, or skip a slot while the last job is unfinished")
      ->capture_default_str();
  create
      ->add_option("--catch-up", f->catch_up,
                   "after downtime: skip missed slots, or run once")
      ->capture_default_str();
  create->add_flag("--paused", f->paused, "create it paused");
  verbs.Add(create, [f](Connection& c) { return Create(*f, c); });

  auto* ls = group->add_subcommand("ls", "list schedules");
  verbs.Add(ls, [](Connection& connection) {
    auto c = connection.client();
    if (!c.ok()) return Fail(c.status());
    client::ScheduleClient schedules(*c);
    auto r = schedules.List();
    if (!r.ok()) return Fail(r.status());
    Show(*r, connection.json(), PrintScheduleTable);
    return 0;
  });

  AddByName<v1::Schedule>(
      group, verbs, "get", "show a schedule",
      [](client::ScheduleClient& s, const std::string& n) { return s.Get(n); },
      PrintSchedule);
  AddByName<v1::Schedule>(
      group, verbs, "pause", "pause a schedule",
      [](client::ScheduleClient& s, const std::string& n) {
        return s.Pause(n);
      },
      PrintSchedule);
  AddByName<v1::Schedule>(
      group, verbs, "resume", "resume a schedule (missed slots are skipped)",
      [](client::ScheduleClient& s, const std::string& n) {
        return s.Resume(n);
      },
      PrintSchedule);
  AddByName<v1::TriggerScheduleResponse>(
      group, verbs, "trigger", "submit the schedule's job now; prints its id",
      [](client::ScheduleClient& s, const std::string& n) {
        return s.Trigger(n);
      },
      PrintTrigger);

  auto* rm = group->add_subcommand("rm", "delete a schedule");
  auto name = std::make_shared<std::string>();
  rm->add_option("name", *name, "schedule name")->required();
  verbs.Add(rm, [name](Connection& connection) {
    auto c = connection.client();
    if (!c.ok()) return Fail(c.status());
    client::ScheduleClient schedules(*c);
    if (absl::Status s = schedules.Delete(*name); !s.ok()) return Fail(s);
    if (connection.json()) std::printf("{}\n");
    return 0;
  });
}

}  // namespace jobq::ctl
