// fanout: N sleep jobs at once; the wall time from the first submit to the
// last completion, against the sleep itself.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/bench/jobs.h"
#include "client/bench/report.h"
#include "client/bench/scenario.h"

namespace jobq::bench {
namespace {

Result Fanout(client::Client& c, const Options& o) {
  Result r;
  r.name = absl::StrCat("fanout (", o.count, " x sleep ", o.sleep, ")");
  std::string queue = FreshQueue("fanout-");
  grpc::ClientContext ctx;
  v1::WatchRequest watch;
  watch.set_queue(queue);
  watch.add_states(v1::JOB_STATE_SUCCEEDED);
  watch.add_states(v1::JOB_STATE_DEAD);
  auto events = c.jobs().Watch(&ctx, watch);
  v1::WatchResponse msg;
  if (!events->Read(&msg)) {  // The watch is in place.
    ++r.errors;
    return r;
  }
  auto t0 = Clock::now();
  std::thread producer([&] {
    v1::JobSpec spec;
    spec.set_kind("sleep");
    spec.set_queue(queue);
    spec.set_payload(o.sleep);
    (void)SubmitCopies(c, spec, o.count);  // Stops at the first failure.
  });
  while (r.jobs < o.count && events->Read(&msg)) {
    for (const auto& e : msg.events()) {
      if (e.state() == v1::JOB_STATE_SUCCEEDED) {
        ++r.jobs;
        r.done_us.Record(MicrosSince(t0));
      } else if (e.state() == v1::JOB_STATE_DEAD) {
        ++r.errors;
      }
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  producer.join();
  ctx.TryCancel();
  grpc::Status s = events->Finish();
  if (r.jobs < o.count) {
    // The watch ended early: a jobqd whose --stream-buffer is smaller than
    // the burst of events cuts it off.
    std::fprintf(stderr, "fanout: watch ended after %llu jobs: %s\n",
                 static_cast<unsigned long long>(r.jobs),
                 s.error_message().c_str());
    r.errors += o.count - r.jobs;
  }
  return r;
}

}  // namespace

void AddFanout(CLI::App& app, Options& o, ScenarioTable& scenarios) {
  auto* cmd = app.add_subcommand(
      "fanout", "N sleep jobs at once: wall time to the last completion");
  cmd->add_option("--count,-n", o.count, "jobs")->capture_default_str();
  cmd->add_option("--sleep", o.sleep, "each job's sleep")
      ->capture_default_str();
  scenarios.Add(
      cmd, [&o](client::Client& c) { return Report(Fanout(c, o), o.json); });
}

}  // namespace jobq::bench
