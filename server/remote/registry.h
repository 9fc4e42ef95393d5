#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "core/scheduler.h"
#include "events/outbound.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::remote {

// The server side of one worker's Work stream: what the core writes to it.
using WorkerStream = events::Outbound<v1::WorkAssignment>;

struct RegistryOptions {
  // A lease lasts this long from the worker's last message.
  DurationUs lease = 30 * kSecond;
  // What workers are told to keep to when idle; a third of the lease.
  DurationUs heartbeat_interval = 10 * kSecond;
  // Largest result and error a worker may report, in bytes.
  size_t max_result = 1 << 20;
  size_t max_error = 4096;
};

// The remote workers connected to jobqd and the jobs each holds.
//
// Jobs go to workers with free capacity, in priority order across the
// queues each serves, the worker with the most room first, so that load
// spreads by free capacity. The leases
// themselves live in the Scheduler (they are job state, logged); this
// class knows who holds what, refuses results from anyone else, and
// returns a worker's jobs to their queues when its stream ends.
//
// Fencing: a worker that lets a lease run out without a word for a whole
// lease (a hung process whose connection stays up) is fenced. It keeps its
// stream and is told of the revoke, but is offered no job until it sends
// any message again, so the job it lost goes to another worker with room
// (or waits for one) instead of back to it. A run that only exceeded its
// timeout does not fence its worker.
// Thread: core loop only.
class Registry {
 public:
  using SessionId = uint64_t;

  Registry(RegistryOptions options, core::Scheduler* scheduler);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // A worker's hello (its fields already checked for form). Sends the
  // welcome. INVALID_ARGUMENT for a kind jobqd runs itself,
  // ALREADY_EXISTS for the id of a connected worker.
  absl::StatusOr<SessionId> Connect(const v1::WorkerHello& hello,
                                    std::string peer,
                                    std::shared_ptr<WorkerStream> stream,
                                    TimeUs now);
  // Any later message: results, progress, draining. It is a heartbeat,
  // and lifts the worker's fence.
  void OnMessage(SessionId id, const v1::WorkerMessage& message, TimeUs now);
  // The stream ended: the worker's jobs go back to their queues at once.
  void Disconnect(SessionId id, TimeUs now);

  // Leases due by `now` are renewed or lost; lost ones are revoked, and a
  // worker not heard from for a whole lease is fenced. Call it before
  // Dispatch() in a turn, so that a lost job is offered to the others.
  void ExpireLeases(TimeUs now);
  // Hands READY jobs of remote kinds to workers with room.
  void Dispatch(TimeUs now);
  // A running job was cancelled: its worker is told. False when no worker
  // holds (seq, attempt).
  bool Revoke(uint64_t seq, int32_t attempt, const std::string& reason);

  // Shutdown: no more jobs go out, and every worker is told to finish.
  void Drain();
  // Ends every stream with `status`; jobs held stay RUNNING (a restart
  // requeues them).
  void CloseAll(const grpc::Status& status);
  // Starts the writes of every stream written to since the last flush.
  void FlushAll();

  size_t size() const { return sessions_.size(); }
  // Connected workers fenced now.
  size_t fenced() const;
  // Leases lost because their worker fell silent, since start (timeouts
  // are not counted).
  uint64_t leases_expired() const { return leases_expired_; }
  void List(v1::ListWorkersResponse* out) const;
  // Per remote kind: waiting and running jobs, workers and capacity.
  void KindStats(google::protobuf::RepeatedPtrField<v1::KindStats>* out) const;

 private:
  struct Session {
    SessionId id = 0;
    std::string name;
    std::vector<std::string> kinds;
    std::vector<std::string> queues;  // Empty: all.
    size_t concurrency = 1;
    absl::flat_hash_map<uint64_t, int32_t> held;  // seq -> attempt.
    TimeUs connected_at = 0;
    TimeUs last_heard = 0;
    std::string peer;
    uint64_t succeeded = 0;
    uint64_t failed = 0;
    uint64_t expired = 0;  // Leases lost to its silence.
    bool draining = false;
    // Lost a lease to its silence and not heard from since: takes no job.
    bool fenced = false;
    std::shared_ptr<WorkerStream> stream;

    size_t room() const {
      return draining || fenced || held.size() >= concurrency
                 ? 0
                 : concurrency - held.size();
    }
  };

  void Result(Session& s, const v1::WorkResult& r, TimeUs now);
  // A run that a worker of `s`'s name holds under a lease no session has
  // taken: leased by an earlier leader of the cluster, before `s`
  // reconnected here. Its result is accepted.
  bool Orphan(const Session& s, uint64_t seq, int32_t attempt) const;
  void Refuse(Session& s, const std::string& job_id, int32_t attempt,
              const std::string& reason);
  // Takes (seq, attempt) from the worker that holds it; null if none does.
  Session* Release(uint64_t seq, int32_t attempt);
  // Tells `s` that it no longer holds (seq, attempt).
  void TellRevoked(Session& s, uint64_t seq, int32_t attempt,
                   const std::string& reason);
  // Sends `jobs`, just started for `s`.
  void Send(Session& s, const std::vector<core::Assignment>& jobs);
  void Touch(SessionId id) { dirty_.insert(id); }

  RegistryOptions options_;
  core::Scheduler* scheduler_;
  absl::flat_hash_map<SessionId, Session> sessions_;
  absl::flat_hash_map<std::string, SessionId> by_name_;
  absl::flat_hash_map<uint64_t, SessionId> holder_;  // seq -> session.
  absl::flat_hash_set<SessionId> dirty_;
  SessionId next_id_ = 1;
  uint64_t turn_ = 0;  // Rotates which worker is offered jobs first.
  uint64_t leases_expired_ = 0;
  bool draining_ = false;
};

}  // namespace jobq::remote
