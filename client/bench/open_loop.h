#pragma once

#include <string>

#include "client/bench/options.h"
#include "client/bench/report.h"
#include "client/client.h"

namespace jobq::bench {

struct OpenLoopPlan {
  double rate = 0;      // Jobs per second.
  double duration = 0;  // Seconds.
  // Also ask for each job's SUCCEEDED on the stream and time it.
  bool watch = false;
  // The queue of every job; empty: MakeJob's own.
  std::string queue;
};

// Open loop: one SubmitStream, sending jobs (MakeJob's) at a fixed rate
// whatever the answers do; latency counts from the time each job was due,
// so a stall is not hidden (no coordinated omission). With plan.watch,
// r.jobs counts the jobs seen SUCCEEDED and done_us times them; without,
// r.jobs counts the jobs acknowledged. Sets no name. Blocks for the
// duration and until the stream has ended.
Result OpenLoop(client::Client& c, const Options& o, const OpenLoopPlan& plan);

}  // namespace jobq::bench
