#pragma once

// What jobq-bench's flags set: one Options for every scenario, each
// reading the fields its subcommand binds.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "client/client.h"

namespace jobq::bench {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string addr = "127.0.0.1:7070";
  bool json = false;
  uint64_t count = 200'000;
  int concurrency = 64;
  int batch = 1000;
  int streams = 4;
  int window = 4096;
  size_t payload = 64;
  int queues = 1;
  int priorities = 1;
  bool watch = false;        // Stream paths: also wait for each SUCCEEDED.
  double rate = 5000;        // latency, list-load: jobs per second.
  double duration = 5;       // latency, watchers: seconds.
  bool breakdown = false;    // latency: also jobqd's hops.
  std::string sleep = "1s";  // fanout: each job's sleep.
  int watchers = 2000;       // watchers: Watch streams on the loaded queue.
  bool reading = false;      // watchers: they read (or stall after opening).
  double producer_rate = 0;  // watchers: jobs/s to the watched queue; 0: max.
  std::string kind = "noop";
  bool remote = false;            // e2e: run the jobs on remote workers.
  int remote_workers = 1;         // Their streams (in this process).
  int remote_concurrency = 1000;  // Jobs each holds at once.
  // list-load: the jobs held in the listed queue, the jobs of a ListJobs
  // page, and the seconds of load (its rate is `rate`).
  uint64_t listed_jobs = 5'000'000;
  int page_size = 1000;
  double list_duration = 10;
  // The lister thread's nice value over the process's (list-load).
  int lister_nice = 0;
  client::TlsOptions tls;
  std::string token_file;
  std::string token;  // From token_file or $JOBQ_TOKEN.
};

inline int64_t MicrosSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                               t0)
      .count();
}

}  // namespace jobq::bench
