#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "core/scheduler.h"
#include "store/log.h"

namespace jobq::engine {

// Told, on the core thread, whether submitted jobs were stored: OK with one
// outcome per spec, or the log's error (none of them was stored, and the
// outcomes may be empty).
using SubmitDone = absl::AnyInvocable<void(
    const absl::Status&, const std::vector<core::SubmitOutcome>&)>;
// Told, on the core thread, that the changes made before it was registered
// are durable (OK), or that they never will be (the log failed for good).
using DurableDone = absl::AnyInvocable<void(const absl::Status&)>;

// The durable-ack pipeline: no answer to a client leaves before what it
// answers is stored. Submits are prepared (counted, not yet visible) and
// their enqueues appended as withdrawable; other changes are applied at once
// and wait for their batch. When the log reports a batch durable, the
// enqueues of every batch up to it are applied and their submits and
// changes answered; when it withdraws a batch's enqueues (a full disk),
// those submits are refused and nothing of them remains.
//
// Without a log (memory mode), a turn's submits and changes are answered at
// the end of the turn (Commit).
//
// Thread: the core thread only.
class DurableAcks {
 public:
  // `log` may be null. `on_health` is told when the log stops taking writes
  // (its error) and when it takes them again (OK).
  DurableAcks(core::Scheduler* scheduler, store::Log* log,
              std::function<void(const absl::Status&)> on_health);

  // Enqueues validated specs; `done` is answered once their records are
  // durable. A spec may name parents among the specs before it by position
  // (JobSpec.depends_on_index); it is refused when one of them was. Refused at
  // once while the log cannot write (except an empty submit, a barrier behind
  // the earlier ones, which keeps its place).
  void Submit(std::vector<v1::JobSpec> specs, TimeUs now, SubmitDone done);

  // A prepared transition that carries a job (a schedule's firing, see
  // Scheduler::DueFirings): logged as withdrawable and applied once
  // durable, as a submit's enqueue is; abandoned if it never will be.
  void AppendPrepared(wal::v1::Transition t);

  // Every change a client asks for:
  //   1. Writable(): if not OK, refuse with it, before changing anything.
  //   2. Change the scheduler (its transitions go to the log).
  //   3. AfterDurable(done): answer in `done`.
  const absl::Status& Writable() const { return log_failure_; }
  void AfterDurable(DurableDone done);
  // True while the log cannot write.
  bool degraded() const { return !log_failure_.ok(); }

  // End of a turn: commits what the turn appended and tags what waits with
  // its batch.
  void Commit();
  // What the log reports, in its order.
  void Committed(uint64_t batch, const absl::Status& status);
  void Withdrawn(uint64_t batch, const absl::Status& status);
  void Health(const absl::Status& status);

  // Compaction begins a new snapshot: enqueues not yet durable may sit in
  // the records before it only, so they are appended again (not
  // withdrawable: the first copy may be stored already) and answered with
  // the snapshot's first batch.
  void ReappendPending();

  // Shutdown: while the log cannot write, answers everything still waiting
  // with `status`; unapplied enqueues are dropped. Nothing when the log
  // writes: those answers come soon. `even_if_writing`: in any case (a
  // deposed leader, whose log stores nothing more, and whose writer may
  // be stuck reconnecting).
  void AbandonWaiting(const absl::Status& status, bool even_if_writing);

 private:
  // Applies (or drops) pending enqueues and answers what waits on batches
  // up to `batch`; batch 0 entries are those of the current turn.
  void Resolve(uint64_t batch, const absl::Status& status);
  // Drops the pending enqueues of batches up to `batch` and answers their
  // submits with `status`.
  void Withdraw(uint64_t batch, const absl::Status& status);
  void AnswerSubmits(uint64_t batch, const absl::Status& status);
  void SetHealth(const absl::Status& status);
  // Turns `spec`'s depends_on_index (positions among the specs before it,
  // whose outcomes are `earlier`) into depends_on ids.
  static absl::Status ResolveIndexes(
      const std::vector<core::SubmitOutcome>& earlier, v1::JobSpec& spec);

  core::Scheduler* const scheduler_;
  store::Log* const log_;
  const std::function<void(const absl::Status&)> on_health_;

  struct PendingEnqueue {
    uint64_t batch;
    wal::v1::Transition enqueue;
  };
  struct PendingAck {
    uint64_t batch;
    std::vector<core::SubmitOutcome> outcomes;
    SubmitDone done;
  };
  struct PendingChange {
    uint64_t batch;
    DurableDone done;
  };
  std::deque<PendingEnqueue> pending_enqueues_;
  std::deque<PendingAck> acks_;
  std::deque<PendingChange> changes_;
  // The last batch the log reported on, and how it went.
  uint64_t resolved_batch_ = 0;
  absl::Status resolved_status_;
  // The last batch whose enqueues were withdrawn, and why.
  uint64_t withdrawn_batch_ = 0;
  absl::Status withdrawn_status_;
  // Not OK while the log cannot write, or once it has failed for good.
  absl::Status log_failure_;
};

}  // namespace jobq::engine
