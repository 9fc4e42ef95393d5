// latency: jobs at a fixed rate, open loop, each timed from when it was
// due to its ack and to its SUCCEEDED.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "client/bench/breakdown.h"
#include "client/bench/open_loop.h"
#include "client/bench/report.h"
#include "client/bench/scenario.h"

namespace jobq::bench {

void AddLatency(CLI::App& app, Options& o, ScenarioTable& scenarios) {
  auto* cmd = app.add_subcommand(
      "latency", "open-loop fixed rate: submit-to-ack and submit-to-done");
  cmd->add_option("--rate", o.rate, "jobs per second")->capture_default_str();
  cmd->add_option("--duration", o.duration, "seconds")->capture_default_str();
  cmd->add_option("--payload", o.payload, "payload bytes")
      ->capture_default_str();
  cmd->add_flag("--breakdown", o.breakdown,
                "also report where the time went, hop by hop (jobqd's "
                "timings of this run, read before and after it)");
  scenarios.Add(cmd, [&o](client::Client& c) {
    if (o.rate <= 0 || o.duration <= 0) {
      std::fprintf(stderr,
                   "jobq-bench: --rate and --duration must be positive\n");
      return 2;
    }
    HopReading before, after;
    std::string error;
    if (o.breakdown && !ReadHops(c, &before, &error)) {
      std::fprintf(stderr, "jobq-bench: --breakdown: %s\n", error.c_str());
      return 1;
    }
    OpenLoopPlan plan;
    plan.rate = o.rate;
    plan.duration = o.duration;
    plan.watch = true;
    Result r = OpenLoop(c, o, plan);
    r.name = absl::StrCat("latency (", o.rate, " jobs/s open loop)");
    if (o.breakdown) {
      if (!ReadHops(c, &after, &error)) {
        std::fprintf(stderr, "jobq-bench: --breakdown: %s\n", error.c_str());
        return 1;
      }
      AddBreakdown(before, after, &r);
    }
    return Report(r, o.json);
  });
}

}  // namespace jobq::bench
