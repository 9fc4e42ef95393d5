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
  int64_t max_queued = 0;
  double rate = 0;
  int burst = 0;
  CLI::Option* max_concurrency_option = nullptr;
  CLI::Option* max_queued_option = nullptr;
  CLI::Option* rate_option = nullptr;
  CLI::Option* burst_option = nullptr;
};

// Sends only the limits given: jobqd leaves the others as they are.
int Limit(const LimitFlags& f, Connection& connection) {
  v1::SetQueueLimitsRequest req;
  req.set_queue(f.queue);
  if (f.max_concurrency_option->count() > 0) {
    req.set_max_concurrency(f.max_concurrency);
  }
  if (f.max_queued_option->count() > 0) req.set_max_queued(f.max_queued);
  if (f.rate_option->count() > 0) req.set_rate(f.rate);
  if (f.burst_option->count() > 0) req.set_burst(f.burst);
  if (!req.has_max_concurrency() && !req.has_max_queued() && !req.has_rate() &&
      !req.has_burst()) {
    return Usage(
        "limit: give max (jobs at once), --max-queued, --rate or --burst");
  }
  auto c = connection.client();
  if (!c.ok()) return Fail(c.status());
  auto r = (*c)->SetQueueLimits(req);
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
      "limit", "set a queue's limits: what is given changes, the rest stays");
  auto f = std::make_shared<LimitFlags>();
  cmd->add_option("queue", f->queue, "queue")->required();
  f->max_concurrency_option =
      cmd->add_option("max", f->max_concurrency,
                      "jobs at once; 0: no limit; omitted: unchanged");
  f->max_queued_option = cmd->add_option(
      "--max-queued", f->max_queued,
      "unfinished jobs the queue accepts; 0: jobqd's --max-queued");
  f->rate_option =
      cmd->add_option("--rate", f->rate, "job starts per second; 0: no limit");
  f->burst_option = cmd->add_option(
      "--burst", f->burst, "starts at once after a lull; 0: max(1, rate/10)");
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
