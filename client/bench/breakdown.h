#pragma once

// latency --breakdown: where a run's time went inside jobqd. jobqd times
// every hop of a job's way (GetStatsResponse.hops, since it started); two
// readings, before and after a run, subtract into the run's own hops.

#include <string>
#include <utility>
#include <vector>

#include "client/bench/report.h"
#include "client/client.h"
#include "common/histogram.h"

namespace jobq::bench {

// The hop histograms of jobqd, by name, in the order jobqd lists them.
using HopReading = std::vector<std::pair<std::string, Histogram>>;

// Reads them; false (and `error`) when GetStats fails, or when jobqd
// reports no hops (a version that does not time them).
bool ReadHops(client::Client& c, HopReading* out, std::string* error);

// Adds the hops between `before` and `after` to `r` (a table under its
// line, or a "hops" object in JSON), with the client's own side:
// r.wake_us and r.send_us (the sender's lateness and its write), the whole way
// (r.done_us), and the rest: the wire and gRPC in and out, the client and
// the core's own work (the p50 of the whole way less the p50s of send
// and of every hop a job passes once).
void AddBreakdown(const HopReading& before, const HopReading& after, Result* r);

}  // namespace jobq::bench
