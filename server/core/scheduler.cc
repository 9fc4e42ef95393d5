#include "core/scheduler.h"

#include <algorithm>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/time_proto.h"
#include "core/backoff.h"

namespace jobq::core {

int AttemptLimit(const Job& job, Retry retry) {
  int limit = MaxAttempts(job.retry());
  return retry == Retry::kNow ? std::max(limit, kLostRunAttempts) : limit;
}

Scheduler::Scheduler(SchedulerOptions options, JobObserver* observer,
                     TransitionLog* log)
    : options_(std::move(options)), observer_(observer), log_(log) {
  if (!options_.random) options_.random = [] { return 0.5; };
}

// ---- Commands: decide, record, apply. ----

SubmitOutcome Scheduler::Submit(v1::JobSpec spec, TimeUs now) {
  wal::v1::Transition t;
  SubmitOutcome out = PrepareEnqueue(std::move(spec), now, &t);
  if (out.duplicate || out.refused()) return out;
  if (log_ != nullptr) log_->Append(t);
  ApplyPrepared(t);
  return out;
}

SubmitOutcome Scheduler::PrepareEnqueue(v1::JobSpec&& spec, TimeUs now,
                                        wal::v1::Transition* t,
                                        absl::Span<const uint64_t> batch) {
  const std::string& key = spec.idempotency_key();
  if (!key.empty()) {
    auto it = idempotency_.find(key);
    if (it != idempotency_.end() && it->second.expires > now) {
      return SubmitOutcome{it->second.seq, true, 0, {}};
    }
    auto pending = pending_keys_.find(key);
    if (pending != pending_keys_.end()) {
      return SubmitOutcome{pending->second, true, 0, {}};
    }
  }
  if (spec.depends_on_size() > 0) {
    if (absl::Status s = CheckParents(spec, batch); !s.ok()) {
      SubmitOutcome refused;
      refused.error = std::move(s);
      return refused;
    }
  }
  Queue& q = GetQueue(spec.queue());
  if (int64_t limit = MaxQueued(q); limit > 0 && q.unfinished() >= limit) {
    ++q.refused_total;
    return SubmitOutcome{0, false, limit, {}};
  }
  ++q.pending;
  if (spec.depends_on_size() > 0) Pin(spec);
  // Ids follow the clock (milliseconds in the high bits) so that they stay
  // unique and ordered across restarts even without a log, and follow each
  // other within a millisecond.
  uint64_t seq = std::max(next_seq_, static_cast<uint64_t>(now / 1000) << 16);
  next_seq_ = seq + 1;
  if (!key.empty()) pending_keys_.emplace(key, seq);
  TimeUs ready_at = now;
  if (spec.has_delay()) {
    ready_at = now + DurationFromProto(spec.delay());
    spec.clear_delay();
  } else if (spec.has_run_at()) {
    ready_at = std::max(now, TimeFromProto(spec.run_at()));
    spec.clear_run_at();
  }
  t->Clear();
  auto* e = t->mutable_enqueue();
  e->set_seq(seq);
  *e->mutable_spec() = std::move(spec);
  e->set_created_at_us(now);
  e->set_ready_at_us(ready_at);
  return SubmitOutcome{seq, false, 0, {}};
}

void Scheduler::ApplyPrepared(const wal::v1::Transition& t) {
  if (t.has_schedule_fire()) return ApplyPreparedFire(t.schedule_fire());
  const v1::JobSpec& spec = t.enqueue().spec();
  Queue& q = GetQueue(spec.queue());
  if (q.pending > 0) --q.pending;
  Apply(t);
  if (spec.depends_on_size() > 0) Unpin(spec);
}

void Scheduler::Abandon(const wal::v1::Transition& t) {
  if (t.has_schedule_fire()) AbandonFire(t.schedule_fire());
  const auto& e =
      t.has_schedule_fire() ? t.schedule_fire().enqueue() : t.enqueue();
  Queue& q = GetQueue(e.spec().queue());
  if (q.pending > 0) --q.pending;
  if (e.spec().depends_on_size() > 0) Unpin(e.spec());
  if (e.spec().idempotency_key().empty()) return;
  auto it = pending_keys_.find(e.spec().idempotency_key());
  if (it != pending_keys_.end() && it->second == e.seq()) {
    pending_keys_.erase(it);
  }
}

size_t Scheduler::RequeueRunning(TimeUs now, bool keep_remote) {
  std::vector<uint64_t> running;
  for (const auto& [name, q] : queues_) {
    for (uint64_t seq : q.ids[v1::JOB_STATE_RUNNING]) {
      if (keep_remote && leases_.Find(seq) != nullptr) continue;
      running.push_back(seq);
    }
  }
  std::sort(running.begin(), running.end());  // Records in id order.
  wal::v1::Transition t;
  for (uint64_t seq : running) {
    const Job& job = At(seq);
    if (job.attempt >= AttemptLimit(job, Retry::kNow)) {
      // Out of attempts: a job that keeps dying with jobqd ends here.
      RunResult lost;
      lost.seq = seq;
      lost.attempt = job.attempt;
      lost.error = kRestartedError;
      lost.retry = Retry::kNow;
      Finish(lost, now);
      continue;
    }
    t.mutable_requeue()->set_seq(seq);
    t.mutable_requeue()->set_at_us(now);
    Record(t);
  }
  return running.size();
}

absl::StatusOr<CancelOutcome> Scheduler::Cancel(uint64_t seq, TimeUs now) {
  const Job* found = Find(seq);
  if (found == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("job ", FormatJobId(seq), " not found"));
  }
  if (IsTerminal(found->state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", FormatJobId(seq), " has already ended (",
                     v1::JobState_Name(v1::JobState(found->state)), ")"));
  }
  CancelOutcome out;
  if (found->state == v1::JOB_STATE_RUNNING) {
    out.running_attempt = found->attempt;
  }
  wal::v1::Transition t;
  t.mutable_cancel()->set_seq(seq);
  t.mutable_cancel()->set_at_us(now);
  Record(t);
  out.job = Find(seq);
  return out;
}

bool Scheduler::Finish(const RunResult& r, TimeUs now) {
  const Job* job = Find(r.seq);
  if (job == nullptr || job->state != v1::JOB_STATE_RUNNING ||
      job->attempt != r.attempt) {
    return false;
  }
  wal::v1::Transition t;
  auto* f = t.mutable_finish();
  f->set_seq(r.seq);
  f->set_attempt(r.attempt);
  f->set_success(r.success);
  f->set_result(r.result);
  f->set_error(r.error);
  f->set_exit_code(r.exit_code);
  f->set_at_us(now);
  // Every run started counts (see Retry), lost ones included.
  if (!r.success && r.retry != Retry::kNever &&
      r.attempt < AttemptLimit(*job, r.retry)) {
    f->set_retry_at_us(
        r.retry == Retry::kNow
            ? now
            : now + RetryBackoff(job->retry(), r.attempt, options_.random()));
  }
  Record(t);
  return true;
}

bool Scheduler::Progress(uint64_t seq, int32_t attempt,
                         const v1::Progress& progress) {
  if (!leases_.SetProgress(seq, attempt, progress)) return false;
  if (observer_ != nullptr) observer_->OnJobProgress(At(seq), progress);
  return true;
}

std::vector<LostLease> Scheduler::ExpireLeases(
    TimeUs now,
    const std::function<TimeUs(const std::string&, uint64_t)>& last_heard) {
  std::vector<LostLease> lost;
  wal::v1::Transition t;
  // Each renewal or loss moves the lease it decides out of the way.
  while (auto due = leases_.Check(now, last_heard)) {
    if (due->renewed()) {
      auto* r = t.mutable_renew();
      r->set_seq(due->seq);
      r->set_attempt(due->attempt);
      r->set_until_us(due->renew_until);
      Record(t);
      continue;
    }
    const Job& job = At(due->seq);
    DurationUs timeout =
        job.has_timeout() ? DurationFromProto(job.timeout()) : 0;
    LostLease loss{due->seq, due->attempt, due->worker,
                   due->Reason(now, timeout)};
    RunResult result;
    result.seq = due->seq;
    result.attempt = due->attempt;
    result.error = loss.reason;
    result.retry = due->verdict == DueLease::Verdict::kTimedOut ? Retry::kPolicy
                                                                : Retry::kNow;
    Finish(result, now);  // Ends the run, and its lease with it.
    lost.push_back(std::move(loss));
  }
  return lost;
}

void Scheduler::Settings(const Queue& q, wal::v1::QueueSettings* out) {
  out->set_queue(q.name);
  out->set_paused(q.paused);
  out->set_max_concurrency(q.max_concurrency);
  out->set_max_queued(q.max_queued);
  out->set_rate(q.starts.rate);
  out->set_burst(q.starts.burst);
}

const Queue& Scheduler::PauseQueue(const std::string& name, bool paused) {
  Queue& q = GetQueue(name);
  wal::v1::Transition t;
  Settings(q, t.mutable_queue_settings());
  t.mutable_queue_settings()->set_paused(paused);
  Record(t);
  return q;
}

const Queue& Scheduler::SetMaxConcurrency(const std::string& name,
                                          int32_t max) {
  Queue& q = GetQueue(name);
  wal::v1::Transition t;
  Settings(q, t.mutable_queue_settings());
  t.mutable_queue_settings()->set_max_concurrency(std::max(0, max));
  Record(t);
  return q;
}

const Queue& Scheduler::SetMaxQueued(const std::string& name, int64_t max) {
  Queue& q = GetQueue(name);
  wal::v1::Transition t;
  Settings(q, t.mutable_queue_settings());
  t.mutable_queue_settings()->set_max_queued(std::max<int64_t>(0, max));
  Record(t);
  return q;
}

TimeUs Scheduler::Tick(TimeUs now) {
  // Promotion is derived from time, not recorded.
  while (!scheduled_.empty() && scheduled_.begin()->first <= now) {
    uint64_t seq = scheduled_.begin()->second;
    scheduled_.erase(scheduled_.begin());
    Job& job = At(seq);
    MakeReady(job, GetQueue(job.queue()));
  }
  ForgetRetired(now);
  TimeUs key_due = ExpireKeys(now, 10'000);

  TimeUs next = 0;
  auto due = [&next](TimeUs at) { next = next == 0 ? at : std::min(next, at); };
  if (!scheduled_.empty()) due(scheduled_.begin()->first);
  if (!finished_.empty()) due(finished_.begin()->first + options_.retention);
  if (!dead_.empty()) due(dead_.begin()->first + options_.dead_retention);
  if (key_due > 0) due(key_due);
  if (TimeUs lease = leases_.next(); lease > 0) due(lease);
  return next;
}

std::vector<Assignment> Scheduler::TakeRunnable(TimeUs now, size_t max) {
  std::vector<Assignment> out;
  std::vector<Queue*> runnable;
  for (auto& [name, q] : queues_) {
    q.starts.Refill(now);
    if (q.CanStart()) runnable.push_back(&q);
  }
  if (runnable.empty() || max == 0) return out;
  size_t ready = 0;
  for (const Queue* q : runnable) ready += q->ready.size();
  out.reserve(std::min(max, ready));
  // Sort for a stable rotation regardless of hash order.
  std::sort(runnable.begin(), runnable.end(),
            [](const Queue* a, const Queue* b) { return a->name < b->name; });
  std::rotate(runnable.begin(),
              runnable.begin() + (queue_turn_++ % runnable.size()),
              runnable.end());
  wal::v1::Transition t;
  auto* start = t.mutable_start();
  while (out.size() < max && !runnable.empty()) {
    for (auto it = runnable.begin();
         it != runnable.end() && out.size() < max;) {
      Queue* q = *it;
      uint64_t seq = q->ready.begin()->seq;
      const Job& job = At(seq);
      start->set_seq(seq);
      start->set_attempt(job.attempt + 1);
      start->set_at_us(now);
      Record(t);
      q->starts.Take();
      out.push_back(
          Assignment{seq,
                     job.attempt,
                     job.kind(),
                     std::string(job.payload()),
                     job.has_timeout() ? DurationFromProto(job.timeout()) : 0,
                     {}});
      if (job.has_parents()) {
        out.back().parents =
            std::make_shared<const std::vector<ParentLink>>(job.parents());
      }
      it = q->CanStart() ? it + 1 : runnable.erase(it);
    }
  }
  return out;
}

std::vector<Assignment> Scheduler::TakeRemote(
    const std::vector<std::string>& kinds,
    const std::vector<std::string>& queues, const std::string& worker,
    TimeUs now, size_t max, DurationUs lease) {
  std::vector<Assignment> out;
  // The READY sets this worker may take from.
  struct Source {
    Queue* queue;
    absl::btree_set<ReadyKey>* ready;
  };
  std::vector<Source> sources;
  auto add = [&](Queue& q) {
    for (const auto& kind : kinds) {
      auto it = q.remote_ready.find(kind);
      if (it != q.remote_ready.end() && !it->second.empty()) {
        q.starts.Refill(now);
        sources.push_back({&q, &it->second});
      }
    }
  };
  if (queues.empty()) {
    for (auto& [name, q] : queues_) add(q);
  } else {
    for (const auto& name : queues) {
      auto it = queues_.find(name);
      if (it != queues_.end()) add(it->second);
    }
  }
  wal::v1::Transition t;
  auto* start = t.mutable_start();
  start->set_worker(worker);
  auto* terms = start->mutable_lease();
  while (out.size() < max) {
    // The best head among the open sources.
    Source* best = nullptr;
    for (auto& s : sources) {
      if (s.ready->empty() || !s.queue->Open()) continue;
      if (best == nullptr || *s.ready->begin() < *best->ready->begin()) {
        best = &s;
      }
    }
    if (best == nullptr) break;
    const Job& job = At(best->ready->begin()->seq);
    DurationUs timeout =
        job.has_timeout() ? DurationFromProto(job.timeout()) : 0;
    DurationUs length = timeout > 0 ? std::min(timeout, lease) : lease;
    start->set_seq(job.seq);
    start->set_attempt(job.attempt + 1);
    start->set_at_us(now);
    terms->set_until_us(now + length);
    terms->set_length_us(length);
    terms->set_deadline_us(timeout > 0 ? now + timeout : 0);
    Record(t);
    best->queue->starts.Take();
    out.push_back(
        Assignment{job.seq, job.attempt, job.kind(), "", timeout, {}});
  }
  return out;
}
// ---- State. ----

const Job* Scheduler::Find(uint64_t seq) const {
  auto it = jobs_.find(seq);
  return it == jobs_.end() ? nullptr : &*it;
}

void Scheduler::ToProto(const Job& job, v1::Job* out,
                        bool with_attempts) const {
  core::ToProto(job, out);
  if (const RemoteRun* run = FindRemote(job.seq); run != nullptr) {
    RemoteRunToProto(*run, out);
  }
  if (with_attempts) AttemptsToProto(job, out->mutable_attempts());
}

void Scheduler::AttemptsToProto(
    const Job& job,
    google::protobuf::RepeatedPtrField<v1::Attempt>* out) const {
  attempts_.ToProto(job.seq, out);
  if (AttemptRecord run; ImplicitAttempt(job, &run)) {
    AttemptHistory::RecordToProto(run, out->Add());
  }
  if (job.state == v1::JOB_STATE_RUNNING) {
    v1::Attempt* a = out->Add();
    a->set_number(job.attempt);
    TimeToProto(job.started_at, a->mutable_started_at());
    if (const RemoteRun* run = FindRemote(job.seq); run != nullptr) {
      a->set_worker(run->worker);
    }
    a->set_outcome(v1::ATTEMPT_OUTCOME_RUNNING);
  }
}
const Queue* Scheduler::FindQueue(const std::string& name) const {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : &it->second;
}

Queue& Scheduler::GetQueue(const std::string& name) {
  auto [it, inserted] = queues_.try_emplace(name);
  if (inserted) it->second.name = name;
  return it->second;
}

void Scheduler::Record(const wal::v1::Transition& t) {
  if (log_ != nullptr) log_->Append(t);
  Apply(t);
}

void Scheduler::Emit(const Job& job, v1::JobState state) {
  if (observer_ != nullptr) observer_->OnJobEvent(job, state);
}
void Scheduler::Snapshot(const Job& job, wal::v1::JobSnapshot* out) const {
  out->set_seq(job.seq);
  job.SpecToProto(out->mutable_spec());
  out->set_state(job.state);
  out->set_attempt(job.attempt);
  out->set_created_at_us(job.created_at);
  out->set_ready_at_us(job.ready_at);
  out->set_started_at_us(job.started_at);
  out->set_finished_at_us(job.finished_at);
  out->set_result(job.result());
  out->set_error(job.error());
  out->set_exit_code(job.exit_code());
  for (const ParentLink& p : job.parents()) {
    if (!p.succeeded) continue;
    auto* r = out->add_parent_results();
    r->set_seq(p.seq);
    if (p.result != nullptr) r->set_result(*p.result);
  }
  out->clear_attempts();
  attempts_.ToProto(job.seq, out->mutable_attempts());
  // An implicit run is written out only for the worker it ran on.
  if (ran_on_.contains(job.seq)) {
    if (AttemptRecord run; ImplicitAttempt(job, &run)) {
      AttemptHistory::RecordToProto(run, out->add_attempts());
    }
  }
  if (const RemoteRun* run = FindRemote(job.seq); run != nullptr) {
    out->set_worker(run->worker);
    out->mutable_lease()->set_until_us(run->until);
    out->mutable_lease()->set_length_us(run->length);
    out->mutable_lease()->set_deadline_us(run->deadline);
  } else {
    out->clear_worker();
    out->clear_lease();
  }
}

}  // namespace jobq::core
