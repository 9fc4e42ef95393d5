#include "core/job.h"

#include <cstdio>

#include "common/time_proto.h"

namespace jobq::core {

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_DEAD ||
         state == v1::JOB_STATE_CANCELLED;
}

std::string FormatJobId(uint64_t seq) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(seq));
  return std::string(buf, 16);
}

bool ParseJobId(std::string_view id, uint64_t* seq) {
  if (id.size() != 16) return false;
  uint64_t v = 0;
  for (char c : id) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *seq = v;
  return true;
}

namespace {

void FillTimings(const Job& job, v1::Timings* out) {
  if (job.started_at > 0 && job.started_at >= job.ready_at) {
    DurationToProto(job.started_at - job.ready_at, out->mutable_queue_wait());
  }
  if (job.finished_at > 0 && job.started_at > 0) {
    DurationToProto(job.finished_at - job.started_at, out->mutable_run_time());
  }
  if (job.finished_at > 0) {
    DurationToProto(job.finished_at - job.created_at, out->mutable_total());
  }
}

}  // namespace

void ToProto(const Job& job, v1::Job* out) {
  out->set_id(FormatJobId(job.seq));
  *out->mutable_spec() = job.spec;
  out->set_state(job.state);
  out->set_attempt(job.attempt);
  TimeToProto(job.created_at, out->mutable_created_at());
  TimeToProto(job.ready_at, out->mutable_ready_at());
  if (job.started_at > 0)
    TimeToProto(job.started_at, out->mutable_started_at());
  if (job.finished_at > 0)
    TimeToProto(job.finished_at, out->mutable_finished_at());
  out->set_result(job.result);
  out->set_error(job.error);
  out->set_exit_code(job.exit_code);
  FillTimings(job, out->mutable_timings());
}

void ToEvent(const Job& job, v1::JobState state, v1::JobEvent* out) {
  out->set_job_id(FormatJobId(job.seq));
  out->set_queue(job.spec.queue());
  out->set_state(state);
  out->set_attempt(job.attempt);
  TimeUs at = job.created_at;
  switch (state) {
    case v1::JOB_STATE_READY:
      at = std::max(job.ready_at, job.finished_at);
      break;
    case v1::JOB_STATE_RUNNING:
      at = job.started_at;
      break;
    case v1::JOB_STATE_SUCCEEDED:
    case v1::JOB_STATE_FAILED:
    case v1::JOB_STATE_DEAD:
    case v1::JOB_STATE_CANCELLED:
      at = job.finished_at;
      break;
    case v1::JOB_STATE_SCHEDULED:
      at = job.finished_at > 0 ? job.finished_at : job.created_at;
      break;
    default:
      break;
  }
  TimeToProto(at, out->mutable_at());
  if (state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
      state == v1::JOB_STATE_DEAD) {
    out->set_result(job.result);
    out->set_error(job.error);
    out->set_exit_code(job.exit_code);
    FillTimings(job, out->mutable_timings());
  } else if (state == v1::JOB_STATE_CANCELLED) {
    out->set_error(job.error);
  }
}

}  // namespace jobq::core
