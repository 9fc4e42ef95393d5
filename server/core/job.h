#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::core {

// A job as the core holds it. Owned by the Scheduler; callers get const
// references that stay valid only until the scheduler's next mutation.
struct Job {
  uint64_t seq = 0;
  v1::JobSpec spec;  // Validated; queue always set.
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  int32_t attempt = 0;
  TimeUs created_at = 0;
  TimeUs ready_at = 0;
  TimeUs started_at = 0;
  TimeUs finished_at = 0;
  std::string result;
  std::string error;
  int32_t exit_code = 0;
};

bool IsTerminal(v1::JobState state);

// Ids are the job's sequence number as 16 lowercase hex digits, so that they
// sort in submission order as strings too.
std::string FormatJobId(uint64_t seq);
// False when `id` is not 16 hex digits.
bool ParseJobId(std::string_view id, uint64_t* seq);

// The API view of a job, and of one of its state changes.
void ToProto(const Job& job, v1::Job* out);
void ToEvent(const Job& job, v1::JobState state, v1::JobEvent* out);

}  // namespace jobq::core
