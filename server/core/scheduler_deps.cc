// The Scheduler's dependencies between jobs (JobSpec.depends_on).
//
// A job with parents waits WAITING until every parent has SUCCEEDED; it
// then holds their results (shared with the parents, not copied) for its
// handler. When a parent ends DEAD or CANCELLED the job is CANCELLED, and
// its own dependents after it. Parents always have lower ids than their
// dependents (a parent exists before the job that names it), so the graph
// has no cycles, and a log replayed in order meets every parent first.
//
// Nothing here is a transition of its own: waiting, release and the
// cancellation of dependents follow from the enqueue, finish, cancel and
// retry records, so that replay rebuilds them.
#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/scheduler.h"

namespace jobq::core {
namespace {

// "DEAD" for JOB_STATE_DEAD.
std::string StateName(v1::JobState state) {
  constexpr std::string_view kPrefix = "JOB_STATE_";
  std::string name = v1::JobState_Name(state);
  return name.rfind(kPrefix, 0) == 0 ? name.substr(kPrefix.size()) : name;
}

}  // namespace

absl::Status Scheduler::CheckParents(const v1::JobSpec& spec,
                                     absl::Span<const uint64_t> batch) const {
  for (int i = 0; i < spec.depends_on_size(); ++i) {
    const std::string& id = spec.depends_on(i);
    uint64_t seq;
    if (!ParseJobId(id, &seq)) {
      return absl::InvalidArgumentError(
          absl::StrCat("depends_on[", i, "]: \"", id, "\" is not a job id"));
    }
    if (std::binary_search(batch.begin(), batch.end(), seq)) continue;
    const Job* parent = Find(seq);
    if (parent == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("depends_on[", i, "]: job ", id, " not found"));
    }
    if (parent->state == v1::JOB_STATE_DEAD ||
        parent->state == v1::JOB_STATE_CANCELLED) {
      return absl::FailedPreconditionError(
          absl::StrCat("depends_on[", i, "]: job ", id, " ended ",
                       StateName(parent->state), "; it will never succeed"));
    }
  }
  return absl::OkStatus();
}

void Scheduler::Pin(const v1::JobSpec& spec) {
  for (const auto& id : spec.depends_on()) {
    uint64_t seq;
    if (ParseJobId(id, &seq)) ++pinned_[seq];
  }
}

void Scheduler::Unpin(const v1::JobSpec& spec) {
  for (const auto& id : spec.depends_on()) {
    uint64_t seq;
    if (!ParseJobId(id, &seq)) continue;
    auto it = pinned_.find(seq);
    if (it != pinned_.end() && --it->second == 0) pinned_.erase(it);
  }
}

bool Scheduler::JoinParents(Job& job, Queue& q, TimeUs at) {
  SetState(job, q, v1::JOB_STATE_WAITING);
  TimeUs release = at;
  // Copied: marking a parent changes the links.
  std::vector<uint64_t> missing;
  for (const ParentLink& link : job.parents()) {
    if (!link.succeeded) missing.push_back(link.seq);
  }
  for (uint64_t seq : missing) {
    const Job* parent = Find(seq);
    if (parent == nullptr || parent->state == v1::JOB_STATE_DEAD ||
        parent->state == v1::JOB_STATE_CANCELLED) {
      // Cancelled when its parent ended, as a replay that meets the
      // parent's end after this job would do.
      CancelForParent(
          job, parent, seq,
          parent != nullptr ? std::max(at, parent->finished_at) : at);
      ReleaseDependents(job, job.finished_at);
      return false;
    }
    if (parent->state == v1::JOB_STATE_SUCCEEDED) {
      job.ParentSucceeded(seq, parent->shared_result());
      release = std::max(release, parent->finished_at);
    } else {
      dependents_[seq].push_back(job.seq);
    }
  }
  if (job.parents_missing() == 0) {
    EndWaiting(job, q, release);
  } else {
    Emit(job, v1::JOB_STATE_WAITING);
  }
  return true;
}

void Scheduler::EndWaiting(Job& job, Queue& q, TimeUs at) {
  job.ready_at = std::max(job.ready_at, at);
  if (job.ready_at > at) {
    SetState(job, q, v1::JOB_STATE_SCHEDULED);
    scheduled_.insert({job.ready_at, job.seq});
    Emit(job, v1::JOB_STATE_SCHEDULED);
    return;
  }
  MakeReady(job, q);
}

void Scheduler::CancelForParent(Job& job, const Job* parent,
                                uint64_t parent_seq, TimeUs at) {
  Queue& q = GetQueue(job.queue());
  job.SetError(
      parent != nullptr
          ? absl::StrCat("parent job ", FormatJobId(parent_seq), " ended ",
                         StateName(parent->state))
          : absl::StrCat("parent job ", FormatJobId(parent_seq), " is gone"));
  SetState(job, q, v1::JOB_STATE_CANCELLED);
  Retire(job, q, at);
  Emit(job, v1::JOB_STATE_CANCELLED);
}

void Scheduler::ReleaseDependents(const Job& ended, TimeUs at) {
  if (dependents_.empty()) return;
  // Parents whose end is still to be passed on: a cancelled dependent is
  // one in turn (a worklist, not recursion: chains may be long).
  std::vector<uint64_t> parents = {ended.seq};
  while (!parents.empty()) {
    uint64_t pseq = parents.back();
    parents.pop_back();
    auto it = dependents_.find(pseq);
    if (it == dependents_.end()) continue;
    std::vector<uint64_t> children = std::move(it->second);
    dependents_.erase(it);
    const Job& parent = *Find(pseq);
    bool succeeded = parent.state == v1::JOB_STATE_SUCCEEDED;
    for (uint64_t cseq : children) {
      Job* child = Mutable(cseq);
      if (child == nullptr || child->state != v1::JOB_STATE_WAITING) continue;
      if (!succeeded) {
        CancelForParent(*child, &parent, pseq, at);
        parents.push_back(cseq);
        continue;
      }
      if (child->ParentSucceeded(pseq, parent.shared_result()) &&
          child->parents_missing() == 0) {
        EndWaiting(*child, GetQueue(child->queue()), at);
      }
    }
  }
}

}  // namespace jobq::core
