// The Scheduler's lifecycle of finished jobs: retention of finished and
// DEAD jobs, idempotency keys remembered for their window, retrying and
// deleting jobs, purging queues, queue limits and the rate of starts.
#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/scheduler.h"

namespace jobq::core {
namespace {

absl::Status NotFound(uint64_t seq) {
  return absl::NotFoundError(
      absl::StrCat("job ", FormatJobId(seq), " not found"));
}

std::string StateName(int state) {
  return v1::JobState_Name(static_cast<v1::JobState>(state));
}

}  // namespace

// ---- Retention. ----

void Scheduler::ForgetRetired(TimeUs now) {
  wal::v1::Transition t;
  auto* forget = t.mutable_forget();
  size_t excess = finished_.size() > options_.max_finished
                      ? finished_.size() - options_.max_finished
                      : 0;
  for (auto it = finished_.begin(); it != finished_.end(); ++it) {
    if (excess == 0 && it->first > now - options_.retention) break;
    if (Pinned(it->second)) continue;  // Until its dependent is applied.
    forget->add_seqs(it->second);
    if (excess > 0) --excess;
  }
  // DEAD jobs wait for someone to act, within their own retention and cap.
  size_t dead_excess =
      dead_.size() > options_.max_dead ? dead_.size() - options_.max_dead : 0;
  // A crossing is counted (and logged) when drops begin, and again only
  // after the DEAD jobs fell below the cap in between.
  if (dead_excess > 0 && !at_dead_cap_) {
    ++dead_cap_crossings_;
    at_dead_cap_ = true;
  } else if (dead_.size() < options_.max_dead) {
    at_dead_cap_ = false;
  }
  for (auto it = dead_.begin(); it != dead_.end(); ++it) {
    if (dead_excess == 0 && it->first > now - options_.dead_retention) break;
    if (Pinned(it->second)) continue;
    forget->add_seqs(it->second);
    if (dead_excess > 0) {
      --dead_excess;
      ++dead_dropped_;
      ++GetQueue(At(it->second).queue()).dead_dropped_total;
    }
  }
  if (forget->seqs_size() > 0) Record(t);
}

// ---- Idempotency keys. ----

void Scheduler::RememberKey(const std::string& key, uint64_t seq,
                            TimeUs expires) {
  auto [it, inserted] = idempotency_.try_emplace(key, KeyEntry{seq, expires});
  if (!inserted) {
    key_expiry_.erase({it->second.expires, key});
    it->second = KeyEntry{seq, expires};
  }
  key_expiry_.insert({expires, key});
}

TimeUs Scheduler::ExpireKeys(TimeUs now, size_t max) {
  // Derived from time, like promotion: not a transition. A replay that
  // brings back an expired key expires it again at the next turn.
  for (size_t n = 0;
       n < max && !key_expiry_.empty() && key_expiry_.begin()->first <= now;
       ++n) {
    idempotency_.erase(key_expiry_.begin()->second);
    key_expiry_.erase(key_expiry_.begin());
  }
  if (key_expiry_.empty()) return 0;
  return std::max(key_expiry_.begin()->first, now);
}

void Scheduler::ApplyIdempotencyKey(const wal::v1::IdempotencyKey& k) {
  if (k.key().empty()) return;
  RememberKey(k.key(), k.seq(), k.expires_at_us());
}

std::optional<Scheduler::KeyCursor> Scheduler::ForEachForgottenKey(
    const std::optional<KeyCursor>& after, size_t max,
    absl::FunctionRef<void(const wal::v1::IdempotencyKey&)> fn) const {
  auto it = after ? key_expiry_.upper_bound(*after) : key_expiry_.begin();
  std::optional<KeyCursor> last;
  wal::v1::IdempotencyKey k;
  for (size_t n = 0; it != key_expiry_.end() && n < max; ++it, ++n) {
    last = *it;
    const KeyEntry& entry = idempotency_.at(it->second);
    if (Find(entry.seq) != nullptr) continue;  // Its snapshot carries it.
    k.set_key(it->second);
    k.set_seq(entry.seq);
    k.set_expires_at_us(entry.expires);
    fn(k);
  }
  return last;
}

// ---- Retry and delete. ----

absl::StatusOr<const Job*> Scheduler::RetryJob(uint64_t seq, TimeUs now) {
  const Job* job = Find(seq);
  if (job == nullptr) return NotFound(seq);
  if (job->state != v1::JOB_STATE_DEAD &&
      job->state != v1::JOB_STATE_CANCELLED) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", FormatJobId(seq), " is ", StateName(job->state),
                     "; only DEAD and CANCELLED jobs can be retried"));
  }
  // It waits again for the parents that have not succeeded: they must be
  // able to.
  for (const ParentLink& p : job->parents()) {
    if (p.succeeded) continue;
    const Job* parent = Find(p.seq);
    if (parent == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", FormatJobId(seq), " depends on job ",
                       FormatJobId(p.seq), ", which is gone"));
    }
    if (parent->state == v1::JOB_STATE_DEAD ||
        parent->state == v1::JOB_STATE_CANCELLED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", FormatJobId(seq), " depends on job ", FormatJobId(p.seq),
          ", which is ", StateName(parent->state), "; retry that one first"));
    }
  }
  wal::v1::Transition t;
  t.mutable_retry()->set_seq(seq);
  t.mutable_retry()->set_at_us(now);
  Record(t);
  return Find(seq);
}

void Scheduler::ApplyRetry(const wal::v1::Retry& r) {
  Job* found = Mutable(r.seq());
  if (found == nullptr || (found->state != v1::JOB_STATE_DEAD &&
                           found->state != v1::JOB_STATE_CANCELLED)) {
    return;
  }
  Job& job = *found;
  Queue& q = GetQueue(job.queue());
  // Its run, described by the fields reset below, is kept.
  if (AttemptRecord run; ImplicitAttempt(job, &run)) {
    attempts_.Add(job.seq, std::move(run));
    ran_on_.erase(job.seq);
  }
  RetentionSet(job.state).erase({job.finished_at, job.seq});
  ++live_;  // SetState counts the other way only.
  job.attempt = 0;
  job.ready_at = r.at_us();
  job.started_at = 0;
  job.finished_at = 0;
  job.ClearOutcome();
  if (job.has_parents()) {
    JoinParents(job, q, r.at_us());
  } else {
    MakeReady(job, q);
  }
}

absl::Status Scheduler::DeleteJob(uint64_t seq) {
  const Job* job = Find(seq);
  if (job == nullptr) return NotFound(seq);
  if (!IsTerminal(job->state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", FormatJobId(seq), " is ", StateName(job->state),
                     "; only finished jobs can be deleted (cancel it first)"));
  }
  if (Pinned(seq)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", FormatJobId(seq),
                     " is a parent of a job being submitted; try again"));
  }
  wal::v1::Transition t;
  t.mutable_forget()->add_seqs(seq);
  Record(t);
  return absl::OkStatus();
}

size_t Scheduler::RetryDeadStep(const std::string& queue, size_t max,
                                TimeUs now) {
  auto qit = queues_.find(queue);
  if (qit == queues_.end()) return 0;
  const auto& dead = qit->second.ids[v1::JOB_STATE_DEAD];
  // Copied first: each retry takes its id out of the set.
  std::vector<uint64_t> seqs;
  for (auto it = dead.begin(); it != dead.end() && seqs.size() < max; ++it) {
    seqs.push_back(*it);
  }
  wal::v1::Transition t;
  for (uint64_t seq : seqs) {
    t.mutable_retry()->set_seq(seq);
    t.mutable_retry()->set_at_us(now);
    Record(t);
  }
  return seqs.size();
}

size_t Scheduler::PurgeStep(const std::string& queue, uint32_t states,
                            size_t max, TimeUs now,
                            std::vector<std::pair<uint64_t, int32_t>>* stop) {
  auto qit = queues_.find(queue);
  if (qit == queues_.end()) return 0;
  const Queue& q = qit->second;
  std::vector<uint64_t> seqs;
  for (int state = 0; state < static_cast<int>(q.ids.size()); ++state) {
    if ((states & (1u << state)) == 0) continue;
    for (auto it = q.ids[state].begin();
         it != q.ids[state].end() && seqs.size() < max; ++it) {
      seqs.push_back(*it);
    }
  }
  wal::v1::Transition t;
  for (uint64_t seq : seqs) {
    const Job& job = At(seq);
    if (IsTerminal(job.state)) continue;
    if (job.state == v1::JOB_STATE_RUNNING) {
      stop->emplace_back(seq, job.attempt);
    }
    t.mutable_cancel()->set_seq(seq);
    t.mutable_cancel()->set_at_us(now);
    Record(t);
  }
  // A parent of a job being submitted stays until that job is applied.
  seqs.erase(std::remove_if(seqs.begin(), seqs.end(),
                            [this](uint64_t seq) { return Pinned(seq); }),
             seqs.end());
  if (!seqs.empty()) {
    t.Clear();
    t.mutable_forget()->mutable_seqs()->Add(seqs.begin(), seqs.end());
    Record(t);
  }
  return seqs.size();
}

// ---- Limits. ----

const Queue& Scheduler::SetQueueLimits(const std::string& name,
                                       const QueueLimits& limits) {
  Queue& q = GetQueue(name);
  wal::v1::Transition t;
  auto* s = t.mutable_queue_settings();
  Settings(q, s);
  if (limits.max_concurrency) {
    s->set_max_concurrency(std::max(0, *limits.max_concurrency));
  }
  if (limits.max_queued) {
    s->set_max_queued(std::max<int64_t>(0, *limits.max_queued));
  }
  if (limits.rate) s->set_rate(std::max(0.0, *limits.rate));
  if (limits.burst) s->set_burst(std::max(0, *limits.burst));
  Record(t);
  return q;
}

TimeUs Scheduler::RateWake(TimeUs now) const {
  TimeUs next = 0;
  for (const auto& [name, q] : queues_) {
    if (!q.starts.limited() || q.paused || !q.HasReady() ||
        q.starts.TokensAt(now) >= 1) {
      continue;
    }
    if (q.max_concurrency > 0 &&
        q.running() >= static_cast<uint64_t>(q.max_concurrency)) {
      continue;  // A finish wakes the core anyway.
    }
    TimeUs at = q.starts.NextToken(now);
    next = next == 0 ? at : std::min(next, at);
  }
  return next;
}

}  // namespace jobq::core
