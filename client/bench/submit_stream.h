#pragma once

#include <CLI/CLI.hpp>

#include "client/bench/options.h"
#include "client/bench/report.h"
#include "client/client.h"

namespace jobq::bench {

// Submits o.count jobs (MakeJob's) on o.streams SubmitStreams at once,
// each with at most o.window requests unacknowledged, and times each job
// from its write to its ack. With o.watch, each request also asks for its
// job's end on the same stream: r.jobs counts the jobs that ended and
// done_us times them; else r.jobs counts the acks. Blocks until every
// stream has ended.
Result Stream(client::Client& c, const Options& o);

// Adds the flags of Stream's jobs and streams to `command`: --streams,
// --window, --payload.
void AddStreamFlags(CLI::App& command, Options& o);

}  // namespace jobq::bench
