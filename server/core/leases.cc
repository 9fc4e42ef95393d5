#include "core/leases.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/time_proto.h"

namespace jobq::core {

std::string DueLease::Reason(TimeUs now, DurationUs timeout) const {
  switch (verdict) {
    case Verdict::kRenew:
      return "";
    case Verdict::kTimedOut:
      return absl::StrCat("timed out after ",
                          absl::FormatDuration(absl::Microseconds(timeout)));
    case Verdict::kWorkerGone:
      return absl::StrCat("worker ", worker, " is gone");
    case Verdict::kWorkerSilent:
      return absl::StrCat(
          "lease expired: worker ", worker, " not heard from for ",
          absl::FormatDuration(absl::Microseconds(now - heard)));
  }
  return "";
}

void RemoteRunToProto(const RemoteRun& run, v1::Job* out) {
  out->set_worker(run.worker);
  TimeToProto(run.until, out->mutable_lease_expires_at());
  if (run.progress.ByteSizeLong() > 0) *out->mutable_progress() = run.progress;
}

void LeaseTable::Start(uint64_t seq, const std::string& worker, int32_t attempt,
                       const wal::v1::Lease& lease) {
  End(seq);
  RemoteRun& run = runs_[seq];
  run.worker = worker;
  run.attempt = attempt;
  run.until = lease.until_us();
  run.length = lease.length_us();
  run.deadline = lease.deadline_us();
  order_.insert({run.until, seq});
}

bool LeaseTable::Renew(uint64_t seq, int32_t attempt, TimeUs until) {
  auto it = runs_.find(seq);
  if (it == runs_.end() || it->second.attempt != attempt) return false;
  order_.erase({it->second.until, seq});
  it->second.until = until;
  order_.insert({until, seq});
  return true;
}

void LeaseTable::End(uint64_t seq) {
  if (runs_.empty()) return;
  auto it = runs_.find(seq);
  if (it == runs_.end()) return;
  order_.erase({it->second.until, seq});
  runs_.erase(it);
}

bool LeaseTable::SetProgress(uint64_t seq, int32_t attempt,
                             const v1::Progress& progress) {
  auto it = runs_.find(seq);
  if (it == runs_.end() || it->second.attempt != attempt) return false;
  it->second.progress = progress;
  return true;
}

std::optional<DueLease> LeaseTable::Check(
    TimeUs now,
    const std::function<TimeUs(const std::string&, uint64_t)>& last_heard)
    const {
  if (order_.empty() || order_.begin()->first > now) return std::nullopt;
  uint64_t seq = order_.begin()->second;
  const RemoteRun& run = runs_.at(seq);
  DueLease due;
  due.seq = seq;
  due.attempt = run.attempt;
  due.worker = run.worker;
  due.heard = last_heard(run.worker, seq);
  TimeUs until = due.heard > 0 ? due.heard + run.length : 0;
  if (run.deadline > 0) until = std::min(until, run.deadline);
  if (until > now) {
    due.verdict = DueLease::Verdict::kRenew;
    due.renew_until = until;
  } else if (run.deadline > 0 && run.deadline <= now) {
    // A run past its timeout failed (its policy decides what follows);
    // one whose worker fell silent was lost.
    due.verdict = DueLease::Verdict::kTimedOut;
  } else if (due.heard == 0) {
    due.verdict = DueLease::Verdict::kWorkerGone;
  } else {
    due.verdict = DueLease::Verdict::kWorkerSilent;
  }
  return due;
}

const RemoteRun* LeaseTable::Find(uint64_t seq) const {
  if (runs_.empty()) return nullptr;  // No hashing when nothing runs remotely.
  auto it = runs_.find(seq);
  return it == runs_.end() ? nullptr : &it->second;
}

}  // namespace jobq::core
