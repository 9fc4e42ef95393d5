#include "core/scheduler.h"

#include <algorithm>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
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

SubmitOutcome Scheduler::PrepareEnqueue(v1::JobSpec spec, TimeUs now,
                                        wal::v1::Transition* t) {
  const std::string& key = spec.idempotency_key();
  if (!key.empty()) {
    auto it = idempotency_.find(key);
    if (it != idempotency_.end()) return {it->second, true};
    auto pending = pending_keys_.find(key);
    if (pending != pending_keys_.end()) return {pending->second, true};
  }
  Queue& q = GetQueue(spec.queue());
  if (int64_t limit = MaxQueued(q); limit > 0 && q.unfinished() >= limit) {
    ++q.refused_total;
    return {0, false, limit};
  }
  ++q.pending;
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
  return {seq, false};
}

void Scheduler::ApplyPrepared(const wal::v1::Transition& t) {
  Queue& q = GetQueue(t.enqueue().spec().queue());
  if (q.pending > 0) --q.pending;
  Apply(t);
}

void Scheduler::Abandon(const wal::v1::Transition& t) {
  const auto& e = t.enqueue();
  Queue& q = GetQueue(e.spec().queue());
  if (q.pending > 0) --q.pending;
  if (e.spec().idempotency_key().empty()) return;
  auto it = pending_keys_.find(e.spec().idempotency_key());
  if (it != pending_keys_.end() && it->second == e.seq()) {
    pending_keys_.erase(it);
  }
}

size_t Scheduler::RequeueRunning(TimeUs now) {
  std::vector<uint64_t> running;
  for (const Job& job : jobs_) {
    if (job.state == v1::JOB_STATE_RUNNING) running.push_back(job.seq);
  }
  wal::v1::Transition t;
  for (uint64_t seq : running) {
    const Job& job = At(seq);
    if (job.attempt >= AttemptLimit(job, Retry::kNow)) {
      // Out of attempts: a job that keeps dying with jobqd ends here.
      RunResult lost;
      lost.seq = seq;
      lost.attempt = job.attempt;
      lost.error = "interrupted: jobqd restarted while it ran";
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
  auto it = remote_runs_.find(seq);
  if (it == remote_runs_.end() || it->second.attempt != attempt) return false;
  it->second.progress = progress;
  if (observer_ != nullptr) observer_->OnJobProgress(At(seq), progress);
  return true;
}

std::vector<LostLease> Scheduler::ExpireLeases(
    TimeUs now, const std::function<TimeUs(const std::string&)>& last_heard) {
  std::vector<LostLease> lost;
  wal::v1::Transition t;
  while (!leases_.empty() && leases_.begin()->first <= now) {
    uint64_t seq = leases_.begin()->second;
    const RemoteRun& run = remote_runs_.at(seq);
    TimeUs heard = last_heard(run.worker);
    TimeUs until = heard > 0 ? heard + run.length : 0;
    if (run.deadline > 0) until = std::min(until, run.deadline);
    if (until > now) {
      auto* r = t.mutable_renew();
      r->set_seq(seq);
      r->set_attempt(run.attempt);
      r->set_until_us(until);
      Record(t);
      continue;
    }
    LostLease loss{seq, run.attempt, run.worker, ""};
    // A run past its timeout failed (its policy decides what follows);
    // one whose worker fell silent was lost.
    bool timed_out = run.deadline > 0 && run.deadline <= now;
    if (timed_out) {
      loss.reason = absl::StrCat("timed out after ",
                                 absl::FormatDuration(absl::Microseconds(
                                     DurationFromProto(At(seq).timeout()))));
    } else if (heard == 0) {
      loss.reason = absl::StrCat("worker ", run.worker, " is gone");
    } else {
      loss.reason = absl::StrCat(
          "lease expired: worker ", run.worker, " not heard from for ",
          absl::FormatDuration(absl::Microseconds(now - heard)));
    }
    RunResult result;
    result.seq = seq;
    result.attempt = run.attempt;
    result.error = loss.reason;
    result.retry = timed_out ? Retry::kPolicy : Retry::kNow;
    Finish(result, now);
    lost.push_back(std::move(loss));
  }
  return lost;
}

void Scheduler::Settings(const Queue& q, wal::v1::QueueSettings* out) {
  out->set_queue(q.name);
  out->set_paused(q.paused);
  out->set_max_concurrency(q.max_concurrency);
  out->set_max_queued(q.max_queued);
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
  wal::v1::Transition t;
  auto* forget = t.mutable_forget();
  size_t excess = finished_.size() > options_.max_finished
                      ? finished_.size() - options_.max_finished
                      : 0;
  for (auto it = finished_.begin(); it != finished_.end(); ++it) {
    if (excess == 0 && it->first > now - options_.retention) break;
    forget->add_seqs(it->second);
    if (excess > 0) --excess;
  }
  if (forget->seqs_size() > 0) Record(t);

  TimeUs next = 0;
  auto due = [&next](TimeUs at) { next = next == 0 ? at : std::min(next, at); };
  if (!scheduled_.empty()) due(scheduled_.begin()->first);
  if (!finished_.empty()) due(finished_.begin()->first + options_.retention);
  if (!leases_.empty()) due(leases_.begin()->first);
  return next;
}

std::vector<Assignment> Scheduler::TakeRunnable(TimeUs now, size_t max) {
  std::vector<Assignment> out;
  std::vector<Queue*> runnable;
  for (auto& [name, q] : queues_) {
    if (q.CanStart()) runnable.push_back(&q);
  }
  if (runnable.empty() || max == 0) return out;
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
      out.push_back(
          Assignment{seq, job.attempt, job.kind(), std::string(job.payload()),
                     job.has_timeout() ? DurationFromProto(job.timeout()) : 0});
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
    out.push_back(Assignment{job.seq, job.attempt, job.kind(), "", timeout});
  }
  return out;
}

// ---- State. ----

const Job* Scheduler::Find(uint64_t seq) const {
  auto it = jobs_.find(seq);
  return it == jobs_.end() ? nullptr : &*it;
}

const RemoteRun* Scheduler::FindRemote(uint64_t seq) const {
  auto it = remote_runs_.find(seq);
  return it == remote_runs_.end() ? nullptr : &it->second;
}

void Scheduler::ToProto(const Job& job, v1::Job* out) const {
  core::ToProto(job, out);
  if (const RemoteRun* run = FindRemote(job.seq); run != nullptr) {
    out->set_worker(run->worker);
    TimeToProto(run->until, out->mutable_lease_expires_at());
    if (run->progress.ByteSizeLong() > 0)
      *out->mutable_progress() = run->progress;
  }
}

absl::btree_set<ReadyKey>& Scheduler::ReadySet(Queue& q, const Job& job) {
  if (IsLocal(job.kind())) return q.ready;
  return q.remote_ready[job.kind()];
}

void Scheduler::StartRemote(const Job& job, const std::string& worker,
                            const wal::v1::Lease& lease) {
  RemoteRun& run = remote_runs_[job.seq];
  run.worker = worker;
  run.attempt = job.attempt;
  run.until = lease.until_us();
  run.length = lease.length_us();
  run.deadline = lease.deadline_us();
  leases_.insert({run.until, job.seq});
}

void Scheduler::EndRemote(uint64_t seq) {
  auto it = remote_runs_.find(seq);
  if (it == remote_runs_.end()) return;
  leases_.erase({it->second.until, seq});
  remote_runs_.erase(it);
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

void Scheduler::SetState(Job& job, Queue& q, v1::JobState state) {
  if (job.state != v1::JOB_STATE_UNSPECIFIED) --q.by_state[job.state];
  if (job.state == v1::JOB_STATE_RUNNING) --running_;
  if (!IsTerminal(job.state) && job.state != v1::JOB_STATE_UNSPECIFIED &&
      IsTerminal(state)) {
    --live_;
  }
  job.state = state;
  ++q.by_state[state];
  if (state == v1::JOB_STATE_RUNNING) ++running_;
}

void Scheduler::MakeReady(Job& job, Queue& q) {
  SetState(job, q, v1::JOB_STATE_READY);
  ReadySet(q, job).insert(ReadyKey{job.priority(), job.seq});
  Emit(job, v1::JOB_STATE_READY);
}

void Scheduler::Retire(Job& job, Queue& q, TimeUs at) {
  job.finished_at = at;
  finished_.insert({at, job.seq});
  ++q.completed_total;
  q.complete_rate.Add(at, 1);
  q.total_time.Record(at - job.created_at);
  switch (job.state) {
    case v1::JOB_STATE_SUCCEEDED:
      ++q.succeeded_total;
      break;
    case v1::JOB_STATE_DEAD:
      ++q.dead_total;
      break;
    case v1::JOB_STATE_CANCELLED:
      ++q.cancelled_total;
      break;
    default:
      break;
  }
}

void Scheduler::Apply(const wal::v1::Transition& t) {
  switch (t.change_case()) {
    case wal::v1::Transition::kEnqueue:
      return ApplyEnqueue(t.enqueue());
    case wal::v1::Transition::kStart:
      return ApplyStart(t.start());
    case wal::v1::Transition::kFinish:
      return ApplyFinish(t.finish());
    case wal::v1::Transition::kCancel:
      return ApplyCancel(t.cancel());
    case wal::v1::Transition::kQueueSettings:
      return ApplyQueueSettings(t.queue_settings());
    case wal::v1::Transition::kForget:
      return ApplyForget(t.forget());
    case wal::v1::Transition::kRequeue:
      return ApplyRequeue(t.requeue());
    case wal::v1::Transition::kSnapshot:
      return ApplySnapshot(t.snapshot());
    case wal::v1::Transition::kRenew:
      return ApplyRenew(t.renew());
    case wal::v1::Transition::CHANGE_NOT_SET:
      break;
  }
}

void Scheduler::ApplyEnqueue(const wal::v1::Enqueue& e) {
  auto [it, inserted] = jobs_.insert(Job(e.seq()));
  if (!inserted) return;  // Replayed twice: the first one stands.
  Job& job = Mut(*it);
  job.SetSpec(e.spec(), names_);
  job.created_at = e.created_at_us();
  job.ready_at = e.ready_at_us();
  next_seq_ = std::max(next_seq_, e.seq() + 1);
  ++live_;
  retained_bytes_ += SizeOf(job);
  if (!job.idempotency_key().empty()) {
    pending_keys_.erase(job.idempotency_key());
    idempotency_.emplace(job.idempotency_key(), job.seq);
  }
  Queue& q = GetQueue(job.queue());
  ++q.submitted_total;
  q.submit_rate.Add(job.created_at, 1);
  if (job.ready_at > job.created_at) {
    SetState(job, q, v1::JOB_STATE_SCHEDULED);
    scheduled_.insert({job.ready_at, job.seq});
    Emit(job, v1::JOB_STATE_SCHEDULED);
  } else {
    MakeReady(job, q);
  }
}

void Scheduler::ApplyStart(const wal::v1::Start& s) {
  Job* found = Mutable(s.seq());
  if (found != nullptr && found->state == v1::JOB_STATE_SCHEDULED &&
      found->ready_at <= s.at_us()) {
    // Promotion is not recorded: on replay the start of a retry finds its
    // job still SCHEDULED. It was due, so it was READY: without this the
    // run would be dropped, and its attempt with it.
    scheduled_.erase({found->ready_at, found->seq});
    MakeReady(*found, GetQueue(found->queue()));
  }
  if (found == nullptr || found->state != v1::JOB_STATE_READY) return;
  Job& job = *found;
  Queue& q = GetQueue(job.queue());
  ReadySet(q, job).erase(ReadyKey{job.priority(), job.seq});
  job.attempt = s.attempt();
  job.started_at = s.at_us();
  job.finished_at = 0;
  job.ClearOutcome();
  q.queue_wait.Record(job.started_at - job.ready_at);
  ++q.started_total;
  SetState(job, q, v1::JOB_STATE_RUNNING);
  if (!s.worker().empty()) StartRemote(job, s.worker(), s.lease());
  Emit(job, v1::JOB_STATE_RUNNING);
}

void Scheduler::ApplyFinish(const wal::v1::Finish& f) {
  Job* found = Mutable(f.seq());
  if (found == nullptr || found->state != v1::JOB_STATE_RUNNING ||
      found->attempt != f.attempt()) {
    return;
  }
  Job& job = *found;
  Queue& q = GetQueue(job.queue());
  EndRemote(job.seq);
  job.finished_at = f.at_us();
  job.SetOutcome(f.result(), f.error(), f.exit_code());
  q.run_time.Record(job.finished_at - job.started_at);
  if (!f.success()) ++q.failed_total;
  if (f.success()) {
    SetState(job, q, v1::JOB_STATE_SUCCEEDED);
    Retire(job, q, f.at_us());
    Emit(job, v1::JOB_STATE_SUCCEEDED);
    return;
  }
  if (f.retry_at_us() > 0 && f.retry_at_us() <= f.at_us()) {
    // Back to its queue at once (a lost lease).
    job.ready_at = f.at_us();
    Emit(job, v1::JOB_STATE_FAILED);
    MakeReady(job, q);
    return;
  }
  if (f.retry_at_us() > 0) {
    // FAILED is an event, never a resting state: the job waits SCHEDULED.
    job.ready_at = f.retry_at_us();
    SetState(job, q, v1::JOB_STATE_SCHEDULED);
    Emit(job, v1::JOB_STATE_FAILED);
    scheduled_.insert({job.ready_at, job.seq});
    Emit(job, v1::JOB_STATE_SCHEDULED);
    return;
  }
  SetState(job, q, v1::JOB_STATE_DEAD);
  Retire(job, q, f.at_us());
  Emit(job, v1::JOB_STATE_FAILED);
  Emit(job, v1::JOB_STATE_DEAD);
}

void Scheduler::ApplyCancel(const wal::v1::Cancel& c) {
  Job* found = Mutable(c.seq());
  if (found == nullptr || IsTerminal(found->state)) return;
  Job& job = *found;
  Queue& q = GetQueue(job.queue());
  if (job.state == v1::JOB_STATE_READY) {
    ReadySet(q, job).erase(ReadyKey{job.priority(), job.seq});
  } else if (job.state == v1::JOB_STATE_SCHEDULED) {
    scheduled_.erase({job.ready_at, job.seq});
  }
  EndRemote(job.seq);
  job.SetError("cancelled");
  SetState(job, q, v1::JOB_STATE_CANCELLED);
  Retire(job, q, c.at_us());
  Emit(job, v1::JOB_STATE_CANCELLED);
}

void Scheduler::ApplyQueueSettings(const wal::v1::QueueSettings& s) {
  Queue& q = GetQueue(s.queue());
  q.paused = s.paused();
  q.max_concurrency = s.max_concurrency();
  q.max_queued = s.max_queued();
}

void Scheduler::ApplyForget(const wal::v1::Forget& f) {
  for (uint64_t seq : f.seqs()) {
    auto it = jobs_.find(seq);
    if (it == jobs_.end() || !IsTerminal(it->state)) continue;
    Job& job = Mut(*it);
    Queue& q = GetQueue(job.queue());
    --q.by_state[job.state];
    retained_bytes_ -= SizeOf(job);
    finished_.erase({job.finished_at, seq});
    if (!job.idempotency_key().empty()) {
      auto key = idempotency_.find(job.idempotency_key());
      if (key != idempotency_.end() && key->second == seq) {
        idempotency_.erase(key);
      }
    }
    jobs_.erase(it);
  }
}

void Scheduler::ApplyRequeue(const wal::v1::Requeue& r) {
  Job* found = Mutable(r.seq());
  if (found == nullptr || found->state != v1::JOB_STATE_RUNNING) return;
  Job& job = *found;
  EndRemote(job.seq);
  job.ready_at = r.at_us();
  job.SetError("interrupted: jobqd restarted while it ran");
  MakeReady(job, GetQueue(job.queue()));
}

uint64_t Scheduler::SizeOf(const Job& job) {
  // The proto size of the spec plus about 64 bytes of fixed fields: about
  // what a snapshot record of the job takes (results are left out, so that
  // the figure does not change while the job lives).
  return job.SpecByteSize() + 64;
}

void Scheduler::Unindex(Job& job, Queue& q) {
  switch (job.state) {
    case v1::JOB_STATE_READY:
      ReadySet(q, job).erase(ReadyKey{job.priority(), job.seq});
      break;
    case v1::JOB_STATE_SCHEDULED:
      scheduled_.erase({job.ready_at, job.seq});
      break;
    case v1::JOB_STATE_RUNNING:
      --running_;
      EndRemote(job.seq);
      break;
    default:
      if (IsTerminal(job.state)) finished_.erase({job.finished_at, job.seq});
      break;
  }
  if (job.state != v1::JOB_STATE_UNSPECIFIED) --q.by_state[job.state];
  if (job.state != v1::JOB_STATE_UNSPECIFIED && !IsTerminal(job.state)) {
    --live_;
  }
  retained_bytes_ -= SizeOf(job);
}

void Scheduler::ApplySnapshot(const wal::v1::JobSnapshot& s) {
  auto [it, inserted] = jobs_.insert(Job(s.seq()));
  Job& job = Mut(*it);
  if (!inserted) Unindex(job, GetQueue(job.queue()));
  job.SetSpec(s.spec(), names_);
  job.state = s.state();
  job.attempt = s.attempt();
  job.created_at = s.created_at_us();
  job.ready_at = s.ready_at_us();
  job.started_at = s.started_at_us();
  job.finished_at = s.finished_at_us();
  job.SetOutcome(s.result(), s.error(), s.exit_code());
  next_seq_ = std::max(next_seq_, s.seq() + 1);
  retained_bytes_ += SizeOf(job);
  if (!job.idempotency_key().empty()) {
    idempotency_[job.idempotency_key()] = job.seq;
  }
  Queue& q = GetQueue(job.queue());
  ++q.by_state[job.state];
  if (!IsTerminal(job.state)) ++live_;
  switch (job.state) {
    case v1::JOB_STATE_READY:
      ReadySet(q, job).insert(ReadyKey{job.priority(), job.seq});
      break;
    case v1::JOB_STATE_SCHEDULED:
      scheduled_.insert({job.ready_at, job.seq});
      break;
    case v1::JOB_STATE_RUNNING:
      ++running_;
      if (!s.worker().empty()) StartRemote(job, s.worker(), s.lease());
      break;
    default:
      if (IsTerminal(job.state)) finished_.insert({job.finished_at, job.seq});
      break;
  }
}

void Scheduler::ApplyRenew(const wal::v1::Renew& r) {
  auto it = remote_runs_.find(r.seq());
  if (it == remote_runs_.end() || it->second.attempt != r.attempt()) return;
  leases_.erase({it->second.until, r.seq()});
  it->second.until = r.until_us();
  leases_.insert({it->second.until, r.seq()});
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
