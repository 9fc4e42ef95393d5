// e2e: noop jobs submitted on streams, each waited for until it has
// SUCCEEDED; run by jobqd's built-in pool, or by remote workers that this
// process serves.
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/bench/report.h"
#include "client/bench/scenario.h"
#include "client/bench/submit_stream.h"
#include "client/worker.h"

namespace jobq::bench {
namespace {

// Runs `scenario` while this process serves o.kind as remote workers
// whose handler succeeds at once.
Result WithRemoteWorkers(const Options& o,
                         const std::function<Result()>& scenario) {
  std::vector<std::unique_ptr<client::Worker>> workers;
  std::vector<std::thread> threads;
  for (int i = 0; i < o.remote_workers; ++i) {
    client::WorkerOptions wo;
    wo.kinds = {o.kind};
    wo.concurrency = o.remote_concurrency;
    wo.threads = 0;  // The handler returns at once: run it inline.
    workers.push_back(std::make_unique<client::Worker>(
        *client::MakeChannel(o.addr, o.tls, o.token), wo,
        [](client::WorkerJob&) { return client::Outcome::Success(); }));
    threads.emplace_back([w = workers.back().get()] {
      absl::Status s = w->Run();
      if (!s.ok()) {
        std::fprintf(stderr, "worker: %s\n", std::string(s.message()).c_str());
      }
    });
  }
  Result r;
  bool ready = true;
  for (auto& w : workers) {
    ready = ready && w->WaitWelcomed(std::chrono::seconds(10));
  }
  if (ready) {
    r = scenario();
  } else {
    r.name = "e2e/remote";
    r.errors = 1;
    std::fprintf(stderr, "jobq-bench: remote workers were not welcomed\n");
  }
  for (auto& w : workers) w->Stop();
  for (auto& t : threads) t.join();
  return r;
}

int RunE2e(client::Client& c, Options& o) {
  o.watch = true;
  if (!o.remote) return Report(Stream(c, o), o.json);
  if (o.remote_workers < 1 || o.remote_concurrency < 1) {
    std::fprintf(stderr, "jobq-bench: counts must be at least 1\n");
    return 2;
  }
  o.kind = "bench.remote";
  Result r = WithRemoteWorkers(o, [&] { return Stream(c, o); });
  r.name += absl::StrCat(" on ", o.remote_workers, " remote workers x ",
                         o.remote_concurrency);
  return Report(r, o.json);
}

}  // namespace

void AddE2e(CLI::App& app, Options& o, ScenarioTable& scenarios) {
  auto* cmd = app.add_subcommand(
      "e2e", "submit noop jobs on streams and wait for each one's SUCCEEDED");
  cmd->add_option("--count,-n", o.count, "jobs")->capture_default_str();
  AddStreamFlags(*cmd, o);
  cmd->add_flag("--remote", o.remote,
                "run the jobs on remote workers (WorkerService streams of "
                "this process) instead of jobqd's built-in noop");
  cmd->add_option("--workers", o.remote_workers, "remote worker streams")
      ->capture_default_str();
  cmd->add_option("--worker-concurrency", o.remote_concurrency,
                  "jobs each remote worker holds at once")
      ->capture_default_str();
  scenarios.Add(cmd, [&o](client::Client& c) { return RunE2e(c, o); });
}

}  // namespace jobq::bench
