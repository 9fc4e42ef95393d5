#pragma once

// The jobs jobq-bench submits, and the queues it puts them in.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "client/bench/options.h"
#include "client/client.h"

namespace jobq::bench {

// Job `i` of a run: o.kind with o.payload bytes, spread over o.queues
// queues ("bench0", ...) and o.priorities priorities.
v1::JobSpec MakeJob(const Options& o, uint64_t i);

// A queue name of its own for one run, so that earlier runs' jobs do not
// count.
std::string FreshQueue(const std::string& prefix);

// Submits `n` copies of `spec` in SubmitBatch calls of 10,000, one after
// the other; stops at the first call that fails and returns its error.
absl::Status SubmitCopies(client::Client& c, const v1::JobSpec& spec,
                          uint64_t n);

}  // namespace jobq::bench
