#include <algorithm>
#include <memory>

#include "core/scheduler.h"

// The Apply half of the Scheduler: the only code that changes job state,
// one function per kind of transition, and the indexes each keeps.
//
// Every index changes with the job's state, here and nowhere else:
// - Queue::by_state and Queue::ids, through SetState (and Unindex, Forget
//   and Snapshot, which take a job out or put it in as it is);
// - a queue's READY sets, scheduled_, finished_, dead_ and leases_ follow the
//   state a job enters or leaves.
// Replaying the same transitions therefore rebuilds the same indexes.

namespace jobq::core {

absl::btree_set<ReadyKey>& Scheduler::ReadySet(Queue& q, const Job& job) {
  if (IsLocal(job.kind())) return q.ready;
  return q.remote_ready[job.kind()];
}

void Scheduler::SetState(Job& job, Queue& q, v1::JobState state) {
  if (job.state != v1::JOB_STATE_UNSPECIFIED) q.Release(job.seq, job.state);
  if (job.state == v1::JOB_STATE_RUNNING) --running_;
  if (!IsTerminal(job.state) && job.state != v1::JOB_STATE_UNSPECIFIED &&
      IsTerminal(state)) {
    --live_;
  }
  job.state = state;
  q.Hold(job.seq, state);
  if (state == v1::JOB_STATE_RUNNING) ++running_;
}

void Scheduler::MakeReady(Job& job, Queue& q) {
  SetState(job, q, v1::JOB_STATE_READY);
  ReadySet(q, job).insert(ReadyKey{job.priority(), job.seq});
  Emit(job, v1::JOB_STATE_READY);
}

void Scheduler::Retire(Job& job, Queue& q, TimeUs at) {
  job.finished_at = at;
  RetentionSet(job.state).insert({at, job.seq});
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
    case wal::v1::Transition::kRetry:
      return ApplyRetry(t.retry());
    case wal::v1::Transition::kIdempotencyKey:
      return ApplyIdempotencyKey(t.idempotency_key());
    case wal::v1::Transition::kSchedulePut:
      return schedules_.ApplyPut(t.schedule_put());
    case wal::v1::Transition::kScheduleDelete:
      return schedules_.ApplyDelete(t.schedule_delete());
    case wal::v1::Transition::kSchedulePause:
      return schedules_.ApplyPause(t.schedule_pause());
    case wal::v1::Transition::kScheduleFire:
      return ApplyScheduleFire(t.schedule_fire());
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
    RememberKey(job.idempotency_key(), job.seq,
                job.created_at + options_.idempotency_window);
  }
  Queue& q = GetQueue(job.queue());
  ++q.submitted_total;
  q.submit_rate.Add(job.created_at, 1);
  if (job.has_parents()) {
    JoinParents(job, q, job.created_at);
  } else if (job.ready_at > job.created_at) {
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
  if (!s.worker().empty()) {
    leases_.Start(job.seq, s.worker(), job.attempt, s.lease());
  }
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
  // A failure put back at once is a lost run (Scheduler::Finish, kNow).
  const bool lost =
      !f.success() && f.retry_at_us() > 0 && f.retry_at_us() <= f.at_us();
  EndAttempt(job, f.at_us(),
             f.success() ? v1::ATTEMPT_OUTCOME_SUCCEEDED
             : lost      ? v1::ATTEMPT_OUTCOME_LOST
                         : v1::ATTEMPT_OUTCOME_FAILED,
             f.error(), f.exit_code(),
             /*terminal=*/f.success() || f.retry_at_us() == 0);
  leases_.End(job.seq);
  job.finished_at = f.at_us();
  job.SetOutcome(f.result(), f.error(), f.exit_code());
  q.run_time.Record(job.finished_at - job.started_at);
  if (!f.success()) ++q.failed_total;
  if (f.success()) {
    SetState(job, q, v1::JOB_STATE_SUCCEEDED);
    Retire(job, q, f.at_us());
    Emit(job, v1::JOB_STATE_SUCCEEDED);
    ReleaseDependents(job, f.at_us());
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
  ReleaseDependents(job, f.at_us());
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
  } else if (job.state == v1::JOB_STATE_RUNNING) {
    EndAttempt(job, c.at_us(), v1::ATTEMPT_OUTCOME_CANCELLED, "cancelled", 0,
               /*terminal=*/true);
  }
  leases_.End(job.seq);
  job.SetError("cancelled");
  SetState(job, q, v1::JOB_STATE_CANCELLED);
  Retire(job, q, c.at_us());
  Emit(job, v1::JOB_STATE_CANCELLED);
  ReleaseDependents(job, c.at_us());
}

void Scheduler::ApplyQueueSettings(const wal::v1::QueueSettings& s) {
  Queue& q = GetQueue(s.queue());
  q.paused = s.paused();
  q.max_concurrency = s.max_concurrency();
  q.max_queued = s.max_queued();
  q.starts.Set(s.rate(), s.burst());
}

void Scheduler::ApplyForget(const wal::v1::Forget& f) {
  for (uint64_t seq : f.seqs()) {
    auto it = jobs_.find(seq);
    if (it == jobs_.end() || !IsTerminal(it->state)) continue;
    Job& job = Mut(*it);
    Queue& q = GetQueue(job.queue());
    q.Release(seq, job.state);
    retained_bytes_ -= SizeOf(job);
    RetentionSet(job.state).erase({job.finished_at, seq});
    attempts_.Forget(seq);
    if (!ran_on_.empty()) ran_on_.erase(seq);
    // Its idempotency key stays remembered for its window.
    jobs_.erase(it);
  }
}

void Scheduler::ApplyRequeue(const wal::v1::Requeue& r) {
  Job* found = Mutable(r.seq());
  if (found == nullptr || found->state != v1::JOB_STATE_RUNNING) return;
  Job& job = *found;
  EndAttempt(job, r.at_us(), v1::ATTEMPT_OUTCOME_LOST, kRestartedError, 0,
             /*terminal=*/false);
  leases_.End(job.seq);
  job.ready_at = r.at_us();
  job.SetError(kRestartedError);
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
      leases_.End(job.seq);
      break;
    default:
      if (IsTerminal(job.state)) {
        RetentionSet(job.state).erase({job.finished_at, job.seq});
      }
      break;
  }
  if (job.state != v1::JOB_STATE_UNSPECIFIED) {
    q.Release(job.seq, job.state);
    if (!IsTerminal(job.state)) --live_;
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
  for (const auto& r : s.parent_results()) {
    job.ParentSucceeded(r.seq(),
                        r.result().empty()
                            ? nullptr
                            : std::make_shared<const std::string>(r.result()));
  }
  if (job.state == v1::JOB_STATE_WAITING) {
    for (const ParentLink& p : job.parents()) {
      if (!p.succeeded) dependents_[p.seq].push_back(job.seq);
    }
  }
  RestoreAttempts(job, s.attempts());
  next_seq_ = std::max(next_seq_, s.seq() + 1);
  retained_bytes_ += SizeOf(job);
  if (!job.idempotency_key().empty()) {
    RememberKey(job.idempotency_key(), job.seq,
                job.created_at + options_.idempotency_window);
  }
  Queue& q = GetQueue(job.queue());
  if (job.state != v1::JOB_STATE_UNSPECIFIED) {
    q.Hold(job.seq, job.state);
    if (!IsTerminal(job.state)) ++live_;
  }
  switch (job.state) {
    case v1::JOB_STATE_READY:
      ReadySet(q, job).insert(ReadyKey{job.priority(), job.seq});
      break;
    case v1::JOB_STATE_SCHEDULED:
      scheduled_.insert({job.ready_at, job.seq});
      break;
    case v1::JOB_STATE_RUNNING:
      ++running_;
      if (!s.worker().empty()) {
        leases_.Start(job.seq, s.worker(), job.attempt, s.lease());
      }
      break;
    default:
      if (IsTerminal(job.state)) {
        RetentionSet(job.state).insert({job.finished_at, job.seq});
      }
      break;
  }
}

void Scheduler::EndAttempt(const Job& job, TimeUs at,
                           v1::AttemptOutcome outcome, const std::string& error,
                           int32_t exit_code, bool terminal) {
  const RemoteRun* remote = leases_.Find(job.seq);
  if (terminal && job.attempt == 1 && !attempts_.Has(job.seq)) {
    // Its only run: the job's fields describe it (ImplicitAttempt), and
    // ran_on_ where it ran.
    if (remote != nullptr) ran_on_[job.seq] = names_.Intern(remote->worker);
    return;
  }
  AttemptRecord run;
  run.number = job.attempt;
  run.started_at = job.started_at;
  run.finished_at = at;
  if (remote != nullptr) run.worker = remote->worker;
  run.error = error;
  run.exit_code = exit_code;
  run.outcome = outcome;
  attempts_.Add(job.seq, std::move(run));
}

bool Scheduler::ImplicitAttempt(const Job& job, AttemptRecord* run) const {
  if (job.attempt != 1 || job.started_at == 0 || !IsTerminal(job.state) ||
      attempts_.Has(job.seq)) {
    return false;
  }
  run->number = 1;
  run->started_at = job.started_at;
  run->finished_at = job.finished_at;
  auto remote = ran_on_.find(job.seq);
  if (remote != ran_on_.end()) {
    run->worker = *remote->second;
  } else {
    run->worker.clear();
  }
  run->error = job.error();
  run->exit_code = job.exit_code();
  run->outcome =
      job.state == v1::JOB_STATE_SUCCEEDED   ? v1::ATTEMPT_OUTCOME_SUCCEEDED
      : job.state == v1::JOB_STATE_CANCELLED ? v1::ATTEMPT_OUTCOME_CANCELLED
                                             : v1::ATTEMPT_OUTCOME_FAILED;
  return true;
}

void Scheduler::RestoreAttempts(
    const Job& job,
    const google::protobuf::RepeatedPtrField<v1::Attempt>& runs) {
  ran_on_.erase(job.seq);
  // A snapshot writes an implicit remote run out (for its worker); it is
  // implicit again here.
  if (runs.size() == 1 && runs[0].number() == 1 && job.attempt == 1 &&
      IsTerminal(job.state) && job.started_at != 0) {
    attempts_.Forget(job.seq);
    if (!runs[0].worker().empty()) {
      ran_on_[job.seq] = names_.Intern(runs[0].worker());
    }
    return;
  }
  attempts_.Restore(job.seq, runs);
}

void Scheduler::ApplyRenew(const wal::v1::Renew& r) {
  leases_.Renew(r.seq(), r.attempt(), r.until_us());
}

}  // namespace jobq::core
