// The verbs of the AdminService: stats, queues, workers, pause, resume,
// limit.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/jobqctl/output.h"
#include "client/jobqctl/verbs.h"

namespace jobq::ctl {
namespace {

struct StatsFlags {
  bool watch = false;
  std::string interval = "2s";
  int count = 0;
};

int Stats(const StatsFlags& f, Connection& connection) {
  auto c = connection.client();
  if (!c.ok()) return Fail(c.status());
  absl::Duration every;
  if (!absl::ParseDuration(f.interval, &every) ||
      every <= absl::ZeroDuration()) {
    return Usage("--interval: a duration such as 2s");
  }
  for (int n = 1;; ++n) {
    auto r = (*c)->GetStats();
    if (!r.ok()) return Fail(r.status());
    if (f.watch && !connection.json()) std::printf("\033[H\033[2J");  // Clear.
    Show(*r, connection.json(), PrintStats);
    std::fflush(stdout);
    if (!f.watch || (f.count > 0 && n >= f.count)) return 0;
    absl::SleepFor(every);
  }
}

void AddStats(CLI::App& app, VerbTable& verbs) {
  auto* cmd = app.add_subcommand("stats", "server statistics");
  auto f = std::make_shared<StatsFlags>();
  cmd->add_flag("--watch,-w", f->watch, "refresh like top until Ctrl-C");
  cmd->add_option("--interval", f->interval, "time between refreshes")
      ->capture_default_str();
  cmd->add_option("--count", f->count, "stop after this many (0: never)");
  verbs.Add(cmd, [f](Connection& connection) { return Stats(*f, connection); });
}

// A verb without flags of its own: one call, its answer shown.
template <typename Response>
VerbRun ShowAnswer(absl::StatusOr<Response> (client::Client::*call)(),
                   void (*print)(const Response&)) {
  return [call, print](Connection& connection) {
    auto c = connection.client();
    if (!c.ok()) return Fail(c.status());
    auto r = ((*c)->*call)();
    if (!r.ok()) return Fail(r.status());
    Show(*r, connection.json(), print);
    return 0;
  };
}

struct LimitFlags {
  std::string queue;
  int max_concurrency = 0;
  int64_t max_queued = -1;
  CLI::Option* max_concurrency_option = nullptr;
  CLI::Option* max_queued_option = nullptr;
};

int Limit(const LimitFlags& f, Connection& connection) {
  bool set_concurrency = f.max_concurrency_option->count() > 0;
  bool set_queued = f.max_queued_option->count() > 0;
  if (!set_concurrency && !set_queued) {
    return Usage("limit: give max (jobs at once), --max-queued, or both");
  }
  auto c = connection.client();
  if (!c.ok()) return Fail(c.status());
  int max_concurrency = f.max_concurrency;
  if (!set_concurrency) {
    // SetQueueLimits always sets max_concurrency: keep the queue's own.
    auto listed = (*c)->ListQueues();
    if (!listed.ok()) return Fail(listed.status());
    auto it = std::find_if(
        listed->queues().begin(), listed->queues().end(),
        [&](const v1::QueueStats& q) { return q.name() == f.queue; });
    if (it == listed->queues().end()) {
      return Fail(absl::NotFoundError(
          absl::StrCat("queue: \"", absl::CEscape(f.queue),
                       "\" does not exist (pause it to create it)")));
    }
    max_concurrency = it->max_concurrency();
  }
  auto r = (*c)->SetQueueLimits(
      f.queue, max_concurrency,
      set_queued ? std::optional<int64_t>(f.max_queued) : std::nullopt);
  if (!r.ok()) return Fail(r.status());
  Show(*r, connection.json(), PrintQueue);
  return 0;
}

// pause, resume and limit: each answers with the queue as it now is.
void AddQueueControls(CLI::App& app, VerbTable& verbs) {
  auto queue = std::make_shared<std::string>();
  for (bool pause : {true, false}) {
    auto* cmd = pause ? app.add_subcommand("pause", "pause a queue")
                      : app.add_subcommand("resume", "resume a queue");
    cmd->add_option("queue", *queue, "queue")->required();
    verbs.Add(cmd, [queue, pause](Connection& connection) {
      auto c = connection.client();
      if (!c.ok()) return Fail(c.status());
      auto r = pause ? (*c)->PauseQueue(*queue) : (*c)->ResumeQueue(*queue);
      if (!r.ok()) return Fail(r.status());
      Show(*r, connection.json(), PrintQueue);
      return 0;
    });
  }
  auto* cmd = app.add_subcommand(
      "limit",
      "set a queue's max concurrency and/or max queued jobs (give either)");
  auto f = std::make_shared<LimitFlags>();
  cmd->add_option("queue", f->queue, "queue")->required();
  f->max_concurrency_option =
      cmd->add_option("max", f->max_concurrency,
                      "jobs at once; 0: no limit; omitted: unchanged");
  f->max_queued_option = cmd->add_option(
      "--max-queued", f->max_queued,
      "unfinished jobs the queue accepts; 0: jobqd's --max-queued");
  verbs.Add(cmd, [f](Connection& connection) { return Limit(*f, connection); });
}

}  // namespace

void AddAdminVerbs(CLI::App& app, VerbTable& verbs) {
  AddStats(app, verbs);
  verbs.Add(app.add_subcommand("queues", "list queues"),
            ShowAnswer(&client::Client::ListQueues, PrintQueues));
  verbs.Add(app.add_subcommand("workers", "list connected remote workers"),
            ShowAnswer(&client::Client::ListWorkers, PrintWorkers));
  AddQueueControls(app, verbs);
}

}  // namespace jobq::ctl
