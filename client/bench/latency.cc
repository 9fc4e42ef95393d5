// latency: jobs at a fixed rate, open loop, each timed from when it was
// due to its ack and to its SUCCEEDED.
#include <cstdio>

#include "absl/strings/str_cat.h"
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
  scenarios.Add(cmd, [&o](client::Client& c) {
    if (o.rate <= 0 || o.duration <= 0) {
      std::fprintf(stderr,
                   "jobq-bench: --rate and --duration must be positive\n");
      return 2;
    }
    OpenLoopPlan plan;
    plan.rate = o.rate;
    plan.duration = o.duration;
    plan.watch = true;
    Result r = OpenLoop(c, o, plan);
    r.name = absl::StrCat("latency (", o.rate, " jobs/s open loop)");
    return Report(r, o.json);
  });
}

}  // namespace jobq::bench
