#include "remote/registry.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/time_proto.h"
#include "core/job.h"

namespace jobq::remote {

Registry::Registry(RegistryOptions options, core::Scheduler* scheduler)
    : options_(options), scheduler_(scheduler) {}

absl::StatusOr<Registry::SessionId> Registry::Connect(
    const v1::WorkerHello& hello, std::string peer,
    std::shared_ptr<WorkerStream> stream, TimeUs now) {
  for (int i = 0; i < hello.kinds_size(); ++i) {
    if (scheduler_->IsLocal(hello.kinds(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("hello.kinds[", i, "]: \"", hello.kinds(i),
                       "\" is run by jobqd itself"));
    }
  }
  SessionId id = next_id_++;
  std::string name = hello.worker_id().empty() ? absl::StrCat("worker-", id)
                                               : hello.worker_id();
  if (by_name_.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "hello.worker_id: worker \"", name, "\" is already connected"));
  }
  if (draining_) {
    return absl::UnavailableError("jobqd is shutting down");
  }
  Session& s = sessions_[id];
  s.id = id;
  s.name = name;
  s.kinds.assign(hello.kinds().begin(), hello.kinds().end());
  s.queues.assign(hello.queues().begin(), hello.queues().end());
  s.concurrency = static_cast<size_t>(std::max(1, hello.concurrency()));
  s.connected_at = s.last_heard = now;
  s.peer = std::move(peer);
  s.stream = std::move(stream);
  by_name_[name] = id;
  spdlog::info(
      "worker {} connected from {}: kinds {}, queues {}, concurrency {}", name,
      s.peer, absl::StrJoin(s.kinds, ","),
      s.queues.empty() ? std::string("all") : absl::StrJoin(s.queues, ","),
      s.concurrency);
  s.stream->AddOpening([&](v1::WorkAssignment& m) {
    auto* w = m.mutable_welcome();
    w->set_worker_id(name);
    DurationToProto(options_.lease, w->mutable_lease());
    DurationToProto(options_.heartbeat_interval,
                    w->mutable_heartbeat_interval());
  });
  Touch(id);
  return id;
}

void Registry::OnMessage(SessionId id, const v1::WorkerMessage& message,
                         TimeUs now) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& s = it->second;
  s.last_heard = now;
  if (s.fenced) {
    s.fenced = false;
    spdlog::info("worker {} heard from again: no longer fenced", s.name);
  }
  for (const auto& p : message.progress()) {
    uint64_t seq = 0;
    auto h =
        core::ParseJobId(p.job_id(), &seq) ? s.held.find(seq) : s.held.end();
    if (h == s.held.end() || h->second != p.attempt()) continue;
    // NaN is no fraction (and std::clamp would let it through): the
    // report is ignored.
    if (std::isnan(p.fraction())) continue;
    v1::Progress progress;
    progress.set_fraction(std::clamp(p.fraction(), 0.0, 1.0));
    progress.set_message(p.message().substr(0, 1024));
    scheduler_->Progress(seq, p.attempt(), progress);
  }
  for (const auto& r : message.results()) Result(s, r, now);
  if (message.draining()) s.draining = true;
}

void Registry::Result(Session& s, const v1::WorkResult& r, TimeUs now) {
  uint64_t seq = 0;
  if (!core::ParseJobId(r.job_id(), &seq)) {
    return Refuse(s, r.job_id(), r.attempt(), "job_id: not a job id");
  }
  auto h = s.held.find(seq);
  if (h != s.held.end() && h->second == r.attempt()) {
    s.held.erase(h);
  } else if (!Orphan(s, seq, r.attempt())) {
    return Refuse(s, r.job_id(), r.attempt(),
                  "this worker does not hold that attempt (its lease was "
                  "lost, or the job was cancelled)");
  }
  holder_.erase(seq);
  core::RunResult result;
  result.seq = seq;
  result.attempt = r.attempt();
  result.success = r.success();
  if (r.result().size() > options_.max_result) {
    result.success = false;
    result.error =
        absl::StrCat("result of ", r.result().size(),
                     " bytes exceeds the limit of ", options_.max_result);
  } else {
    result.result = r.result();
    result.error = r.error().substr(0, options_.max_error);
  }
  result.retry = r.permanent() ? core::Retry::kNever : core::Retry::kPolicy;
  if (result.success) {
    ++s.succeeded;
  } else {
    ++s.failed;
  }
  scheduler_->Finish(result, now);
}

void Registry::Refuse(Session& s, const std::string& job_id, int32_t attempt,
                      const std::string& reason) {
  std::string id = job_id.substr(0, 64);
  s.stream->Add(id.size() + reason.size() + 8, [&](v1::WorkAssignment& m) {
    auto* r = m.add_refused();
    r->set_job_id(id);
    r->set_attempt(attempt);
    r->set_reason(reason);
  });
  Touch(s.id);
}

void Registry::Disconnect(SessionId id, TimeUs now) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& s = it->second;
  std::string reason = absl::StrCat("worker ", s.name, " disconnected");
  spdlog::info(
      "worker {} disconnected; {} jobs it held go back to their queues", s.name,
      s.held.size());
  for (const auto& [seq, attempt] : s.held) {
    holder_.erase(seq);
    core::RunResult result;
    result.seq = seq;
    result.attempt = attempt;
    result.error = reason;
    result.retry = core::Retry::kNow;
    scheduler_->Finish(result, now);
  }
  by_name_.erase(s.name);
  dirty_.erase(id);
  sessions_.erase(it);
}

bool Registry::Orphan(const Session& s, uint64_t seq, int32_t attempt) const {
  const core::RemoteRun* run = scheduler_->FindRemote(seq);
  return run != nullptr && run->worker == s.name && run->attempt == attempt &&
         !holder_.contains(seq);
}

void Registry::ExpireLeases(TimeUs now) {
  auto lost = scheduler_->ExpireLeases(
      now, [this](const std::string& name, uint64_t seq) {
        auto it = by_name_.find(name);
        if (it == by_name_.end()) return TimeUs{0};
        const Session& s = sessions_.at(it->second);
        // A run leased by an earlier leader renews only once its worker
        // has shown that it still has it (its result ends it): a worker
        // that came back without it must not hold it forever.
        if (!holder_.contains(seq)) return TimeUs{0};
        return s.last_heard;
      });
  for (const auto& loss : lost) {
    Session* s = Release(loss.seq, loss.attempt);
    if (s == nullptr) continue;
    TellRevoked(*s, loss.seq, loss.attempt, loss.reason);
    // A run past its timeout on a worker that keeps talking is the job's
    // failure, not the worker's. A lease lost any other way means that the
    // worker was silent for a whole lease.
    if (now - s->last_heard < options_.lease) continue;
    ++leases_expired_;
    ++s->expired;
    if (!s->fenced) {
      s->fenced = true;
      spdlog::warn(
          "worker {} fenced: {}; it gets no job until it sends a message",
          s->name, loss.reason);
    }
  }
}

bool Registry::Revoke(uint64_t seq, int32_t attempt,
                      const std::string& reason) {
  Session* s = Release(seq, attempt);
  if (s == nullptr) return false;
  TellRevoked(*s, seq, attempt, reason);
  return true;
}

Registry::Session* Registry::Release(uint64_t seq, int32_t attempt) {
  auto holder = holder_.find(seq);
  if (holder == holder_.end()) return nullptr;
  auto it = sessions_.find(holder->second);
  if (it == sessions_.end()) return nullptr;
  auto h = it->second.held.find(seq);
  if (h == it->second.held.end() || h->second != attempt) return nullptr;
  it->second.held.erase(h);
  holder_.erase(holder);
  return &it->second;
}

void Registry::TellRevoked(Session& s, uint64_t seq, int32_t attempt,
                           const std::string& reason) {
  std::string job_id = core::FormatJobId(seq);
  s.stream->Add(job_id.size() + reason.size() + 8, [&](v1::WorkAssignment& m) {
    auto* r = m.add_revoked();
    r->set_job_id(job_id);
    r->set_attempt(attempt);
    r->set_reason(reason);
  });
  Touch(s.id);
}

void Registry::Dispatch(TimeUs now) {
  if (draining_ || sessions_.empty()) return;
  // Workers with room, in turn (so that ties go round).
  std::vector<std::pair<SessionId, Session*>> open;
  for (auto& [id, s] : sessions_) {
    if (s.room() > 0) open.emplace_back(id, &s);
  }
  if (open.empty()) return;
  std::sort(open.begin(), open.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::rotate(open.begin(), open.begin() + (turn_++ % open.size()), open.end());
  // Water-filling: the worker with the most room takes jobs until it has
  // one less than the next, so that rooms even out as jobs go out.
  while (!open.empty()) {
    auto most = open.begin();
    size_t next = 0;
    for (auto it = open.begin() + 1; it != open.end(); ++it) {
      size_t room = it->second->room();
      if (room > most->second->room()) {
        next = std::max(next, most->second->room());
        most = it;
      } else {
        next = std::max(next, room);
      }
    }
    Session& s = *most->second;
    size_t room = s.room();
    size_t want = open.size() == 1 ? room : room - next + 1;
    auto jobs = scheduler_->TakeRemote(s.kinds, s.queues, s.name, now, want,
                                       options_.lease);
    if (!jobs.empty()) {
      Send(s, jobs);
      Touch(most->first);
    }
    // Fewer than asked: nothing more this worker may take now.
    if (jobs.size() < want || s.room() == 0) open.erase(most);
  }
}

void Registry::Send(Session& s, const std::vector<core::Assignment>& jobs) {
  for (const auto& a : jobs) {
    const core::Job* job = scheduler_->Find(a.seq);
    const core::RemoteRun* run = scheduler_->FindRemote(a.seq);
    s.held[a.seq] = a.attempt;
    holder_[a.seq] = s.id;
    if (job == nullptr || run == nullptr) continue;
    size_t bytes = job->payload().size() + 64;
    for (const core::ParentLink& p : job->parents()) {
      bytes += 24 + (p.result != nullptr ? p.result->size() : 0);
    }
    s.stream->Add(bytes, [&](v1::WorkAssignment& m) {
      auto* j = m.add_jobs();
      j->set_job_id(core::FormatJobId(a.seq));
      j->set_attempt(a.attempt);
      j->set_queue(job->queue());
      j->set_kind(job->kind());
      j->set_payload(job->payload().data(), job->payload().size());
      if (!job->labels().empty()) {
        *j->mutable_labels() = job->labels();
      }
      TimeToProto(run->until, j->mutable_lease_expires_at());
      if (job->has_timeout()) {
        *j->mutable_timeout() = job->timeout();
      }
      for (const core::ParentLink& p : job->parents()) {
        auto* parent = j->add_parents();
        parent->set_job_id(core::FormatJobId(p.seq));
        if (p.result != nullptr) parent->set_result(*p.result);
      }
    });
  }
}

void Registry::Drain() {
  draining_ = true;
  for (auto& [id, s] : sessions_) {
    s.draining = true;
    s.stream->Add(1, [](v1::WorkAssignment& m) { m.set_drain(true); });
    Touch(id);
  }
}

void Registry::CloseAll(const grpc::Status& status) {
  for (auto& [id, s] : sessions_) s.stream->Close(status);
  sessions_.clear();
  by_name_.clear();
  holder_.clear();
  dirty_.clear();
}

void Registry::FlushAll() {
  for (SessionId id : dirty_) {
    auto it = sessions_.find(id);
    if (it != sessions_.end()) it->second.stream->Flush();
  }
  dirty_.clear();
}

void Registry::List(v1::ListWorkersResponse* out) const {
  std::vector<const Session*> all;
  for (const auto& [id, s] : sessions_) all.push_back(&s);
  std::sort(all.begin(), all.end(), [](const Session* a, const Session* b) {
    return a->name < b->name;
  });
  for (const Session* s : all) {
    auto* w = out->add_workers();
    w->set_worker_id(s->name);
    for (const auto& k : s->kinds) w->add_kinds(k);
    for (const auto& q : s->queues) w->add_queues(q);
    w->set_concurrency(static_cast<int32_t>(s->concurrency));
    w->set_in_flight(static_cast<uint32_t>(s->held.size()));
    TimeToProto(s->connected_at, w->mutable_connected_at());
    TimeToProto(s->last_heard, w->mutable_last_heartbeat());
    w->set_peer(s->peer);
    w->set_succeeded_total(s->succeeded);
    w->set_failed_total(s->failed);
    w->set_expired_total(s->expired);
    w->set_draining(s->draining);
    w->set_fenced(s->fenced);
  }
}

size_t Registry::fenced() const {
  return std::count_if(sessions_.begin(), sessions_.end(),
                       [](const auto& entry) { return entry.second.fenced; });
}

void Registry::KindStats(
    google::protobuf::RepeatedPtrField<v1::KindStats>* out) const {
  std::map<std::string, v1::KindStats> kinds;  // Sorted by name.
  auto of = [&kinds](const std::string& kind) -> v1::KindStats& {
    v1::KindStats& k = kinds[kind];
    k.set_kind(kind);
    return k;
  };
  for (const auto& [id, s] : sessions_) {
    for (const auto& kind : s.kinds) {
      v1::KindStats& k = of(kind);
      k.set_workers(k.workers() + 1);
      // A fenced worker takes no job: an alert on zero capacity fires when
      // every worker of a kind hangs.
      if (!s.fenced) k.set_capacity(k.capacity() + s.concurrency);
    }
  }
  for (const auto& [name, q] : scheduler_->queues()) {
    for (const auto& [kind, ready] : q.remote_ready) {
      if (ready.empty() && !kinds.contains(kind)) continue;
      v1::KindStats& k = of(kind);
      k.set_waiting(k.waiting() + ready.size());
    }
  }
  for (const auto& [seq, run] : scheduler_->remote_runs()) {
    const core::Job* job = scheduler_->Find(seq);
    if (job == nullptr) continue;
    v1::KindStats& k = of(job->kind());
    k.set_running(k.running() + 1);
  }
  for (auto& [name, k] : kinds) *out->Add() = std::move(k);
}

}  // namespace jobq::remote
