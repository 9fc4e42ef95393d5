#include "store/loss_tracker.h"

#include <algorithm>
#include <iterator>

namespace jobq::store {

uint64_t TransitionSeq(const wal::v1::Transition& t) {
  switch (t.change_case()) {
    case wal::v1::Transition::kEnqueue:
      return t.enqueue().seq();
    case wal::v1::Transition::kStart:
      return t.start().seq();
    case wal::v1::Transition::kFinish:
      return t.finish().seq();
    case wal::v1::Transition::kCancel:
      return t.cancel().seq();
    case wal::v1::Transition::kRequeue:
      return t.requeue().seq();
    case wal::v1::Transition::kSnapshot:
      return t.snapshot().seq();
    case wal::v1::Transition::kRenew:
      return t.renew().seq();
    case wal::v1::Transition::kRetry:
      return t.retry().seq();
    case wal::v1::Transition::kScheduleFire:
      return t.schedule_fire().enqueue().seq();
    // These name no job of the log (an idempotency key's job is already
    // forgotten).
    case wal::v1::Transition::kIdempotencyKey:
    case wal::v1::Transition::kSchedulePut:
    case wal::v1::Transition::kScheduleDelete:
    case wal::v1::Transition::kSchedulePause:
    case wal::v1::Transition::kQueueSettings:
    case wal::v1::Transition::kForget:
    case wal::v1::Transition::CHANGE_NOT_SET:
      break;
  }
  return 0;
}

void LossTracker::Saw(const wal::v1::Transition& t) {
  uint64_t seq = TransitionSeq(t);
  if (seq == 0) return;
  if (t.has_enqueue() || t.has_snapshot() || t.has_schedule_fire()) {
    Introduce(seq);
  } else if (damaged_ && !Introduced(seq)) {
    unknown_refs_.insert(seq);
  }
}

bool LossTracker::Introduced(uint64_t seq) const {
  auto it = introduced_.upper_bound(seq);
  if (it == introduced_.begin()) return false;
  --it;
  return seq <= it->second;
}

void LossTracker::Introduce(uint64_t seq) {
  auto next = introduced_.upper_bound(seq);
  if (next != introduced_.begin()) {
    auto prev = std::prev(next);
    if (seq <= prev->second) return;  // Known already.
    if (seq == prev->second + 1) {
      prev->second = seq;
      if (next != introduced_.end() && next->first == seq + 1) {
        prev->second = next->second;
        introduced_.erase(next);
      }
      return;
    }
  }
  if (next != introduced_.end() && next->first == seq + 1) {
    uint64_t last = next->second;
    introduced_.erase(next);
    introduced_.emplace(seq, last);
    return;
  }
  introduced_.emplace(seq, seq);
}

std::vector<uint64_t> LossTracker::Lost() const {
  std::vector<uint64_t> lost;
  for (uint64_t seq : unknown_refs_) {
    if (!Introduced(seq)) lost.push_back(seq);
  }
  std::sort(lost.begin(), lost.end());
  return lost;
}

}  // namespace jobq::store
