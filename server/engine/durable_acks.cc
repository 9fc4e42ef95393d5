#include "engine/durable_acks.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace jobq::engine {
namespace {

// Every entry up to `batch` (0: the current turn's, untagged).
bool Due(uint64_t batch, uint64_t b) {
  return batch == 0 ? b == 0 : b <= batch && b != 0;
}

}  // namespace

DurableAcks::DurableAcks(core::Scheduler* scheduler, store::Log* log,
                         std::function<void(const absl::Status&)> on_health)
    : scheduler_(scheduler), log_(log), on_health_(std::move(on_health)) {}

void DurableAcks::Submit(std::vector<v1::JobSpec> specs, TimeUs now,
                         SubmitDone done) {
  if (!log_failure_.ok() && !specs.empty()) {
    done(log_failure_, {});
    return;
  }
  PendingAck ack{0, {}, std::move(done)};
  ack.outcomes.reserve(specs.size());
  // A graph (parents named by position) needs the jobs this submit
  // prepares, in order, so that its later jobs may name them.
  bool graph = std::any_of(specs.begin(), specs.end(), [](const auto& spec) {
    return spec.depends_on_index_size() > 0;
  });
  std::vector<uint64_t> batch;
  wal::v1::Transition t;
  for (auto& spec : specs) {
    if (spec.depends_on_index_size() > 0) {
      if (absl::Status s = ResolveIndexes(ack.outcomes, spec); !s.ok()) {
        core::SubmitOutcome refused;
        refused.error = std::move(s);
        ack.outcomes.push_back(std::move(refused));
        continue;
      }
    }
    core::SubmitOutcome out =
        scheduler_->PrepareEnqueue(std::move(spec), now, &t, batch);
    if (!out.duplicate && !out.refused()) {
      if (log_ != nullptr) log_->Append(t, true);
      pending_enqueues_.push_back({0, std::move(t)});
      if (graph) batch.push_back(out.seq);
    }
    ack.outcomes.push_back(out);
  }
  acks_.push_back(std::move(ack));
}

absl::Status DurableAcks::ResolveIndexes(
    const std::vector<core::SubmitOutcome>& earlier, v1::JobSpec& spec) {
  for (int i = 0; i < spec.depends_on_index_size(); ++i) {
    int k = spec.depends_on_index(i);
    if (k < 0 || static_cast<size_t>(k) >= earlier.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "depends_on_index[", i, "]: ", k, " is not an earlier job"));
    }
    if (earlier[k].refused()) {
      return absl::FailedPreconditionError(
          absl::StrCat("depends_on_index[", i, "]: that job was refused"));
    }
    // A parent named both ways counts once (the job keeps each once).
    spec.add_depends_on(core::FormatJobId(earlier[k].seq));
  }
  spec.clear_depends_on_index();
  return absl::OkStatus();
}

void DurableAcks::AppendPrepared(wal::v1::Transition t) {
  if (log_ != nullptr) log_->Append(t, true);
  pending_enqueues_.push_back({0, std::move(t)});
}

void DurableAcks::AfterDurable(DurableDone done) {
  changes_.push_back({0, std::move(done)});
}

void DurableAcks::Resolve(uint64_t batch, const absl::Status& status) {
  while (!pending_enqueues_.empty() &&
         Due(batch, pending_enqueues_.front().batch)) {
    const auto& t = pending_enqueues_.front().enqueue;
    if (status.ok()) {
      scheduler_->ApplyPrepared(t);
    } else {
      scheduler_->Abandon(t);
    }
    pending_enqueues_.pop_front();
  }
  while (!changes_.empty() && Due(batch, changes_.front().batch)) {
    DurableDone done = std::move(changes_.front().done);
    changes_.pop_front();
    done(status);
  }
  AnswerSubmits(batch, status);
}

void DurableAcks::Withdraw(uint64_t batch, const absl::Status& status) {
  while (!pending_enqueues_.empty() &&
         Due(batch, pending_enqueues_.front().batch)) {
    scheduler_->Abandon(pending_enqueues_.front().enqueue);
    pending_enqueues_.pop_front();
  }
  AnswerSubmits(batch, status);
}

void DurableAcks::AnswerSubmits(uint64_t batch, const absl::Status& status) {
  while (!acks_.empty() && Due(batch, acks_.front().batch)) {
    PendingAck ack = std::move(acks_.front());
    acks_.pop_front();
    ack.done(status, ack.outcomes);
  }
}

void DurableAcks::AbandonWaiting(const absl::Status& status,
                                 bool even_if_writing) {
  if (log_failure_.ok() && !even_if_writing) return;
  for (auto& p : pending_enqueues_) scheduler_->Abandon(p.enqueue);
  pending_enqueues_.clear();
  while (!changes_.empty()) {
    DurableDone done = std::move(changes_.front().done);
    changes_.pop_front();
    done(status);
  }
  while (!acks_.empty()) {
    PendingAck ack = std::move(acks_.front());
    acks_.pop_front();
    ack.done(status, {});
  }
}

void DurableAcks::SetHealth(const absl::Status& status) {
  log_failure_ = status;
  if (on_health_) on_health_(status);
}

void DurableAcks::Health(const absl::Status& status) {
  // A failure for good stays.
  if (!resolved_status_.ok()) return;
  SetHealth(status);
}

void DurableAcks::Committed(uint64_t batch, const absl::Status& status) {
  resolved_batch_ = std::max(resolved_batch_, batch);
  if (!status.ok() && resolved_status_.ok()) {
    // Never stored: the log has failed for good (or is stopping).
    resolved_status_ = status;
    SetHealth(status);
  }
  Resolve(batch, status);
}

void DurableAcks::Withdrawn(uint64_t batch, const absl::Status& status) {
  withdrawn_batch_ = std::max(withdrawn_batch_, batch);
  withdrawn_status_ = status;
  Withdraw(batch, status);
}

void DurableAcks::Commit() {
  if (log_ == nullptr) {
    // In memory, a turn's submits are "stored" when it ends.
    Resolve(0, absl::OkStatus());
    return;
  }
  uint64_t id = log_->Commit();
  // A turn that wrote nothing may still hold acks (duplicates of jobs in
  // earlier batches): they wait for the last batch.
  if (id == 0) id = log_->last_commit();
  for (auto it = pending_enqueues_.rbegin();
       it != pending_enqueues_.rend() && it->batch == 0; ++it) {
    it->batch = id;
  }
  for (auto it = acks_.rbegin(); it != acks_.rend() && it->batch == 0; ++it) {
    it->batch = id;
  }
  for (auto it = changes_.rbegin(); it != changes_.rend() && it->batch == 0;
       ++it) {
    it->batch = id;
  }
  // Nothing new was written and the last batch is already answered (or its
  // enqueues withdrawn): these share its fate now.
  if (id == 0) {
    Resolve(0, absl::OkStatus());
  } else if (id <= resolved_batch_) {
    Resolve(id, resolved_status_);
  } else if (id <= withdrawn_batch_) {
    Withdraw(id, withdrawn_status_);
  }
}

void DurableAcks::ReappendPending() {
  for (auto& p : pending_enqueues_) {
    log_->Append(p.enqueue);
    p.batch = 0;
  }
  for (auto& a : acks_) a.batch = 0;
}

}  // namespace jobq::engine
