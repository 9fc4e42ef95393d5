// The verbs of a finished job's lifecycle: retry (one job, or a queue's
// DEAD jobs), delete, purge.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/jobqctl/output.h"
#include "client/jobqctl/verbs.h"

namespace jobq::ctl {
namespace {

// Prints a count as {"count": N} for scripts, or a sentence.
void ShowCount(uint64_t count, bool json, const std::string& what) {
  if (json) {
    std::printf("{\"count\":%llu}\n", static_cast<unsigned long long>(count));
  } else {
    std::printf("%llu %s\n", static_cast<unsigned long long>(count),
                what.c_str());
  }
}

struct RetryFlags {
  std::string id;
  bool dead = false;
  std::string queue;
  int64_t limit = 0;
};

int Retry(const RetryFlags& f, Connection& connection) {
  if (f.dead == !f.id.empty()) {
    return Usage("retry: give a job id, or --dead with --queue");
  }
  if (f.dead && f.queue.empty()) return Usage("retry --dead: give --queue");
  if (f.limit < 0) return Usage("--limit: must not be negative");
  auto c = connection.client();
  if (!c.ok()) return Fail(c.status());
  if (f.dead) {
    auto n = (*c)->RetryDead(f.queue, f.limit);
    if (!n.ok()) return Fail(n.status());
    ShowCount(*n, connection.json(), "DEAD jobs run again");
    return 0;
  }
  auto r = (*c)->RetryJob(f.id);
  if (!r.ok()) return Fail(r.status());
  Show(*r, connection.json(), PrintJob);
  return 0;
}

struct PurgeFlags {
  std::string queue;
  std::vector<std::string> states;
};

int Purge(const PurgeFlags& f, Connection& connection) {
  std::vector<v1::JobState> states;
  for (const std::string& name : f.states) {
    v1::JobState st;
    if (!client::ParseState(name, &st) || st == v1::JOB_STATE_FAILED) {
      return Usage(absl::StrCat(
          "--state: one of waiting, scheduled, ready, running, succeeded, "
          "dead, cancelled, not \"",
          name, "\""));
    }
    states.push_back(st);
  }
  auto c = connection.client();
  if (!c.ok()) return Fail(c.status());
  auto n = (*c)->PurgeQueue(f.queue, states);
  if (!n.ok()) return Fail(n.status());
  ShowCount(*n, connection.json(), "jobs removed");
  return 0;
}

}  // namespace

void AddLifecycleVerbs(CLI::App& app, VerbTable& verbs) {
  auto* retry = app.add_subcommand(
      "retry", "run a DEAD or CANCELLED job again, or a queue's DEAD jobs");
  auto r = std::make_shared<RetryFlags>();
  retry->add_option("id", r->id, "job id");
  retry->add_flag("--dead", r->dead, "the DEAD jobs of --queue");
  retry->add_option("--queue,-q", r->queue, "queue (with --dead)");
  retry->add_option("--limit", r->limit, "at most this many (0: all)");
  verbs.Add(retry,
            [r](Connection& connection) { return Retry(*r, connection); });

  auto* del = app.add_subcommand("delete", "forget a finished job");
  auto id = std::make_shared<std::string>();
  del->add_option("id", *id, "job id")->required();
  verbs.Add(del, [id](Connection& connection) {
    auto c = connection.client();
    if (!c.ok()) return Fail(c.status());
    if (absl::Status s = (*c)->DeleteJob(*id); !s.ok()) return Fail(s);
    if (connection.json()) {
      std::printf("{}\n");
    } else {
      std::printf("deleted %s\n", id->c_str());
    }
    return 0;
  });

  auto* purge = app.add_subcommand(
      "purge",
      "remove a queue's jobs in the given states (unfinished ones are "
      "cancelled first)");
  auto p = std::make_shared<PurgeFlags>();
  purge->add_option("queue", p->queue, "queue")->required();
  purge
      ->add_option("--state,-s", p->states,
                   "a state to remove (repeatable), e.g. dead")
      ->required();
  verbs.Add(purge,
            [p](Connection& connection) { return Purge(*p, connection); });
}

}  // namespace jobq::ctl
