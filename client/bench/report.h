#pragma once

// The outcome of a scenario and how jobq-bench prints it: one line a
// scenario, as text for people or one JSON object for scripts
// (tests/perf/*.sh read both; keep them stable).

#include <cstdint>
#include <string>

#include "common/histogram.h"

namespace jobq::bench {

struct Result {
  std::string name;
  uint64_t jobs = 0;
  uint64_t errors = 0;
  double seconds = 0;
  Histogram ack_us;   // Submit-to-ack latency.
  Histogram done_us;  // Submit-to-completion latency (when watched).
  // Open loop: from a job's due time until the sender is awake (the
  // client's own lateness), and the write that sends it.
  Histogram wake_us;
  Histogram send_us;
  // Figures of this scenario alone, already formatted: appended to the
  // text line as they are, and to the JSON object as more fields (each
  // starting with a comma). Empty for most scenarios.
  std::string text_extra;
  std::string json_extra;
};

// Prints `r` on stdout: its rate, then the ack and done quantiles in
// milliseconds where it has any, then its errors.
void Print(const Result& r, bool json);

// Prints `r` and flushes; returns the exit code it calls for: 1 when it
// had errors, else 0.
int Report(const Result& r, bool json);

}  // namespace jobq::bench
