// jobq-bench: load generator for jobqd, in the manner of redis-benchmark
// and ghz. It starts nothing itself; point it at a running jobqd.
//
//   jobq-bench [--addr A[,B...]] [--json] ingest
//              [--path submit|batch|stream|all] [--count N]
//              [--concurrency C] [--batch B] [--streams M]
//              [--payload BYTES] [--queues Q] [--priorities P]
//   jobq-bench e2e [--count N] [--streams M] [--remote [--workers W]
//                  [--worker-concurrency C]]
//   jobq-bench latency [--rate R] [--duration S] [--breakdown]
//   jobq-bench fanout [--count N] [--sleep D]
//   jobq-bench memory [--count N] [--payload BYTES]
//   jobq-bench watchers [--watchers W] [--reading] [--duration S]
//   jobq-bench list-load [--jobs N] [--page-size P] [--rate R]
//                        [--duration S]
//
// Each scenario lives in its own file (scenario.h); this one parses the
// command line, connects and runs the scenario given.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "client/bench/connection.h"
#include "client/bench/options.h"
#include "client/bench/scenario.h"
#include "client/connect_flags.h"

int main(int argc, char** argv) {
  namespace bench = jobq::bench;
  CLI::App app{"jobq-bench: load generator for jobqd"};
  app.require_subcommand(1);
  bench::Options o;
  if (const char* a = std::getenv("JOBQ_ADDR")) o.addr = a;
  app.add_option("--addr", o.addr,
                 "jobqd address, or the addresses of a cluster "
                 "comma-separated: the first to serve, the leader, is used "
                 "(env JOBQ_ADDR)")
      ->capture_default_str();
  app.add_flag("--json", o.json, "one JSON object per scenario");
  jobq::client::AddConnectFlags(app, &o.tls, &o.token_file);
  bench::ScenarioTable scenarios;
  bench::AddIngest(app, o, scenarios);
  bench::AddE2e(app, o, scenarios);
  bench::AddLatency(app, o, scenarios);
  bench::AddFanout(app, o, scenarios);
  bench::AddMemory(app, o, scenarios);
  bench::AddWatchers(app, o, scenarios);
  bench::AddListLoad(app, o, scenarios);
  CLI11_PARSE(app, argc, argv);

  if (o.concurrency < 1 || o.batch < 1 || o.streams < 1 || o.queues < 1 ||
      o.priorities < 1 || o.window < 1) {
    std::fprintf(stderr, "jobq-bench: counts must be at least 1\n");
    return 2;
  }
  std::unique_ptr<jobq::client::Client> client;
  if (int code = bench::ConnectAndWait(&o, &client); code != 0) return code;
  return scenarios.RunParsed(*client);
}
