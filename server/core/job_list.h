#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/job.h"
#include "core/leases.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::core {

class Scheduler;

// Which jobs a listing wants: every field that is set must match.
struct JobFilter {
  std::string queue;                               // Empty: every queue.
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;  // Unspecified: any.
  // Each must be on the job with this value.
  google::protobuf::Map<std::string, std::string> labels;

  bool Matches(const Job& job) const;
};

// A page of Scheduler::ListPage.
struct JobPage {
  // Matches in id order. Valid until the scheduler's next mutation.
  std::vector<const Job*> jobs;
  // Another match follows the last of `jobs`.
  bool more = false;
  // Set when the visit budget ran out before the page was complete: every
  // job up to this id has been looked at. Ask again after it, for the
  // rest of the page.
  std::optional<uint64_t> resume_after;
};

// A ListJobs page as the core copied it. Its v1 form is built from the
// copies on whatever thread answers the call, so that the core spends on
// each job only a copy of its record and payload (about a tenth of
// building the message).
// Thread: made on the core; then owned, and read, by one thread at a time.
struct ListedJobs {
  std::vector<Job> jobs;  // Copies (Job::Copy), in id order.
  // The lease of each job a remote worker runs: its index in `jobs`.
  std::vector<std::pair<size_t, RemoteRun>> leases;
  std::string next_page_token;  // Empty: no match follows.

  void ToProto(v1::ListJobsResponse* out) const;
};

// One ListJobs page, built over as many core turns as it needs, so that
// a filter that rejects most jobs (labels) never holds the core for long:
// each Step() looks at no more than `max_visits` jobs and copies at most
// kJobsPerStep into the page, as compaction
// writes a chunk per turn. Pages and tokens are those of a single walk:
// the matches after `after` in id order, and next_page_token (the last
// id of the page) only when another match follows.
// Thread: core (Step reads the scheduler); movable between tasks.
class JobListing {
 public:
  static constexpr size_t kVisitsPerStep = 10'000;
  // Jobs copied into the page per step: copying is the larger cost of a
  // step (a tenth of a microsecond a job, or more with a large payload),
  // so a step takes tens of microseconds, and a page of 1000 four turns.
  static constexpr size_t kJobsPerStep = 256;

  JobListing(JobFilter filter, uint64_t after, size_t page_size)
      : filter_(std::move(filter)), after_(after), left_(page_size) {}

  // Appends copies of the next matches to `out`. True when the page is
  // complete (next_page_token set when another match follows); false
  // when the caller must Step again, on a later turn.
  bool Step(const Scheduler& scheduler, ListedJobs* out,
            size_t max_visits = kVisitsPerStep);

 private:
  JobFilter filter_;
  uint64_t after_;     // Resume the walk after this id.
  size_t left_;        // Jobs the page still lacks.
  uint64_t last_ = 0;  // The last job of the page so far.
};

}  // namespace jobq::core
