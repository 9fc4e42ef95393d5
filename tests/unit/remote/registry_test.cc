#include "remote/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <vector>

#include "common/time_proto.h"
#include "core/job.h"

namespace jobq::remote {
namespace {

using ::testing::HasSubstr;

constexpr TimeUs kT0 = 1'700'000'000 * kSecond;

// A worker's end of the stream: every message as written, each write
// completing at once.
struct FakeWorker : events::StreamWriter<v1::WorkAssignment> {
  FakeWorker()
      : stream(std::make_shared<WorkerStream>(this, events::OutboundLimits{})) {
  }
  void WriteMessage(const v1::WorkAssignment* m) override {
    received.push_back(*m);
    stream->OnWriteDone(true);
  }
  void FinishStream(const grpc::Status& s) override { status = s; }

  std::vector<v1::AssignedJob> Jobs() const {
    std::vector<v1::AssignedJob> out;
    for (const auto& m : received) {
      for (const auto& j : m.jobs()) out.push_back(j);
    }
    return out;
  }
  std::vector<v1::RevokedJob> Revoked() const {
    std::vector<v1::RevokedJob> out;
    for (const auto& m : received) {
      for (const auto& r : m.revoked()) out.push_back(r);
    }
    return out;
  }
  std::vector<v1::RefusedResult> Refused() const {
    std::vector<v1::RefusedResult> out;
    for (const auto& m : received) {
      for (const auto& r : m.refused()) out.push_back(r);
    }
    return out;
  }

  std::shared_ptr<WorkerStream> stream;
  std::vector<v1::WorkAssignment> received;
  grpc::Status status;
};

struct Recorder : core::JobObserver, core::TransitionLog {
  void OnJobEvent(const core::Job& job, v1::JobState state) override {
    events.emplace_back(job.seq, state);
  }
  void OnJobProgress(const core::Job& job, const v1::Progress& p) override {
    progress.emplace_back(job.seq, p);
  }
  void Append(const wal::v1::Transition& t) override { log.push_back(t); }
  std::vector<std::pair<uint64_t, v1::JobState>> events;
  std::vector<std::pair<uint64_t, v1::Progress>> progress;
  std::vector<wal::v1::Transition> log;
};

v1::WorkerHello Hello(std::string id, int concurrency,
                      std::vector<std::string> kinds = {"resize"},
                      std::vector<std::string> queues = {}) {
  v1::WorkerHello h;
  h.set_worker_id(std::move(id));
  h.set_concurrency(concurrency);
  for (auto& k : kinds) h.add_kinds(k);
  for (auto& q : queues) h.add_queues(q);
  return h;
}

v1::JobSpec Spec(std::string kind = "resize", std::string queue = "q",
                 int32_t priority = 0) {
  v1::JobSpec s;
  s.set_queue(std::move(queue));
  s.set_kind(std::move(kind));
  s.set_priority(priority);
  s.set_payload("img");
  return s;
}

v1::WorkerMessage ResultOf(const v1::AssignedJob& job, bool success,
                           bool permanent = false) {
  v1::WorkerMessage m;
  auto* r = m.add_results();
  r->set_job_id(job.job_id());
  r->set_attempt(job.attempt());
  r->set_success(success);
  r->set_result("done");
  r->set_error(success ? "" : "broke");
  r->set_permanent(permanent);
  return m;
}

uint64_t SeqOf(const std::string& id) {
  uint64_t seq = 0;
  EXPECT_TRUE(core::ParseJobId(id, &seq)) << id;
  return seq;
}

class RegistryTest : public ::testing::Test {
 protected:
  core::SchedulerOptions Options() {
    core::SchedulerOptions o;
    o.random = [] { return 0.0; };
    o.is_local = [](const std::string& kind) {
      return kind == "noop" || kind == "sleep";
    };
    return o;
  }
  Registry::SessionId Connect(FakeWorker& w, const v1::WorkerHello& hello,
                              TimeUs now = kT0) {
    auto id = workers_.Connect(hello, "ipv4:127.0.0.1:1", w.stream, now);
    EXPECT_TRUE(id.ok()) << id.status();
    workers_.FlushAll();
    return id.value_or(0);
  }
  void Pump(TimeUs now) {
    workers_.ExpireLeases(now);
    scheduler_.Tick(now);
    workers_.Dispatch(now);
    workers_.FlushAll();
  }
  const core::Job& JobOf(const v1::AssignedJob& a) {
    return *scheduler_.Find(SeqOf(a.job_id()));
  }

  Recorder rec_;
  core::Scheduler scheduler_{Options(), &rec_, &rec_};
  RegistryOptions options_{.lease = 30 * kSecond,
                           .heartbeat_interval = 10 * kSecond};
  Registry workers_{options_, &scheduler_};
};

TEST_F(RegistryTest, WelcomeCarriesTheIdAndTheLeaseTerms) {
  FakeWorker w;
  Connect(w, Hello("", 1));
  ASSERT_EQ(w.received.size(), 1u);
  const auto& welcome = w.received[0].welcome();
  EXPECT_EQ(welcome.worker_id(), "worker-1");
  EXPECT_EQ(DurationFromProto(welcome.lease()), 30 * kSecond);
  EXPECT_EQ(DurationFromProto(welcome.heartbeat_interval()), 10 * kSecond);
}

TEST_F(RegistryTest, EachJobGoesToExactlyOneWorkerAndLoadSpreadsByRoom) {
  FakeWorker a, b;
  Connect(a, Hello("a", 2));
  Connect(b, Hello("b", 6));
  for (int i = 0; i < 20; ++i) scheduler_.Submit(Spec(), kT0);
  Pump(kT0);
  EXPECT_EQ(a.Jobs().size(), 2u);
  EXPECT_EQ(b.Jobs().size(), 6u);
  std::set<std::string> ids;
  for (const auto* w : {&a, &b}) {
    for (const auto& j : w->Jobs()) {
      EXPECT_TRUE(ids.insert(j.job_id()).second) << "twice: " << j.job_id();
      EXPECT_EQ(j.attempt(), 1);
      EXPECT_EQ(j.payload(), "img");
      EXPECT_EQ(TimeFromProto(j.lease_expires_at()), kT0 + 30 * kSecond);
      EXPECT_EQ(JobOf(j).state, v1::JOB_STATE_RUNNING);
    }
  }
  // Equal room, jobs for half of it: each takes half.
  FakeWorker c, d;
  workers_.Disconnect(1, kT0);
  workers_.Disconnect(2, kT0);
  Connect(c, Hello("c", 100));
  Connect(d, Hello("d", 100));
  Pump(kT0);
  EXPECT_EQ(c.Jobs().size() + d.Jobs().size(), 20u);
  EXPECT_EQ(c.Jobs().size(), 10u);
}

TEST_F(RegistryTest, JobsGoInPriorityOrderAcrossTheWorkersQueues) {
  uint64_t low = scheduler_.Submit(Spec("resize", "a", 1), kT0).seq;
  uint64_t high = scheduler_.Submit(Spec("resize", "b", 9), kT0).seq;
  uint64_t mid = scheduler_.Submit(Spec("resize", "a", 5), kT0).seq;
  scheduler_.Submit(Spec("resize", "other", 99), kT0);  // Not its queue.
  scheduler_.Submit(Spec("email", "a", 99), kT0);       // Not its kind.
  scheduler_.Submit(Spec("noop", "a", 99), kT0);        // Local: not remote.
  FakeWorker w;
  Connect(w, Hello("w", 10, {"resize"}, {"a", "b"}));
  Pump(kT0);
  std::vector<uint64_t> order;
  for (const auto& j : w.Jobs()) order.push_back(SeqOf(j.job_id()));
  EXPECT_EQ(order, (std::vector<uint64_t>{high, mid, low}));
}

TEST_F(RegistryTest, HelloIsRefusedForLocalKindsAndTakenIds) {
  FakeWorker a, b, c;
  auto local =
      workers_.Connect(Hello("a", 1, {"resize", "noop"}), "", a.stream, kT0);
  EXPECT_EQ(local.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(local.status().message()),
              HasSubstr("hello.kinds[1]: \"noop\" is run by jobqd itself"));
  Connect(b, Hello("same", 1));
  auto taken = workers_.Connect(Hello("same", 1), "", c.stream, kT0);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(workers_.size(), 1u);
}

TEST_F(RegistryTest, ResultsFinishJobsAndFreeRoomForTheNext) {
  FakeWorker w;
  Registry::SessionId id = Connect(w, Hello("w", 1));
  auto first = scheduler_.Submit(Spec(), kT0).seq;
  auto second = scheduler_.Submit(Spec(), kT0).seq;
  Pump(kT0);
  ASSERT_EQ(w.Jobs().size(), 1u);
  EXPECT_EQ(SeqOf(w.Jobs()[0].job_id()), first);
  workers_.OnMessage(id, ResultOf(w.Jobs()[0], true), kT0 + kSecond);
  EXPECT_EQ(scheduler_.Find(first)->state, v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(scheduler_.Find(first)->result(), "done");
  Pump(kT0 + kSecond);
  ASSERT_EQ(w.Jobs().size(), 2u);
  EXPECT_EQ(SeqOf(w.Jobs()[1].job_id()), second);
}

TEST_F(RegistryTest, FailuresFollowTheRetryPolicyUnlessPermanent) {
  FakeWorker w;
  Registry::SessionId id = Connect(w, Hello("w", 2));
  v1::JobSpec spec = Spec();
  spec.mutable_retry()->set_max_attempts(3);
  spec.mutable_retry()->mutable_initial_backoff()->set_seconds(1);
  uint64_t retried = scheduler_.Submit(spec, kT0).seq;
  uint64_t dead = scheduler_.Submit(spec, kT0).seq;
  Pump(kT0);
  ASSERT_EQ(w.Jobs().size(), 2u);
  workers_.OnMessage(id, ResultOf(w.Jobs()[0], false), kT0);
  workers_.OnMessage(id, ResultOf(w.Jobs()[1], false, /*permanent=*/true), kT0);
  EXPECT_EQ(scheduler_.Find(retried)->state, v1::JOB_STATE_SCHEDULED);
  EXPECT_EQ(scheduler_.Find(dead)->state, v1::JOB_STATE_DEAD);
  EXPECT_EQ(scheduler_.Find(dead)->error(), "broke");
  Pump(kT0 + kSecond);
  ASSERT_EQ(w.Jobs().size(), 3u);
  EXPECT_EQ(w.Jobs()[2].attempt(), 2);
}

TEST_F(RegistryTest, SilentWorkerLosesItsLeaseOnTimeAndItsLateResultIsRefused) {
  FakeWorker w;
  Registry::SessionId id = Connect(w, Hello("w", 1));
  uint64_t seq = scheduler_.Submit(Spec(), kT0).seq;
  Pump(kT0);
  ASSERT_EQ(w.Jobs().size(), 1u);
  v1::AssignedJob first = w.Jobs()[0];
  EXPECT_EQ(scheduler_.Tick(kT0), kT0 + 30 * kSecond);
  // Heard from at +20 s: at +30 s the lease runs on to +50 s.
  workers_.OnMessage(id, v1::WorkerMessage(), kT0 + 20 * kSecond);
  Pump(kT0 + 30 * kSecond);
  EXPECT_EQ(scheduler_.Find(seq)->state, v1::JOB_STATE_RUNNING);
  EXPECT_EQ(scheduler_.FindRemote(seq)->until, kT0 + 50 * kSecond);
  EXPECT_EQ(rec_.log.back().change_case(), wal::v1::Transition::kRenew);
  EXPECT_EQ(scheduler_.Tick(kT0 + 30 * kSecond), kT0 + 50 * kSecond);
  // Nothing since: lost at +50 s, not a microsecond before.
  Pump(kT0 + 50 * kSecond - 1);
  EXPECT_EQ(scheduler_.Find(seq)->state, v1::JOB_STATE_RUNNING);
  TimeUs lost_at = kT0 + 50 * kSecond;
  workers_.ExpireLeases(lost_at);
  const core::Job& job = *scheduler_.Find(seq);
  EXPECT_EQ(job.state, v1::JOB_STATE_READY);
  EXPECT_EQ(job.attempt, 1);  // Counted.
  EXPECT_THAT(job.error(), HasSubstr("lease expired: worker w not heard from"));
  workers_.FlushAll();
  ASSERT_EQ(w.Revoked().size(), 1u);
  EXPECT_EQ(w.Revoked()[0].job_id(), first.job_id());
  // The late result is refused and changes nothing.
  workers_.OnMessage(id, ResultOf(first, true), lost_at + kSecond);
  workers_.FlushAll();
  ASSERT_EQ(w.Refused().size(), 1u);
  EXPECT_THAT(w.Refused()[0].reason(), HasSubstr("does not hold"));
  EXPECT_EQ(scheduler_.Find(seq)->state, v1::JOB_STATE_READY);
}

TEST_F(RegistryTest,
       AWorkerSilentForAWholeLeaseIsFencedAndItsJobGoesToAHealthyOne) {
  // `hung` has more room than `healthy`, so that without fencing the job
  // would go straight back to it.
  FakeWorker a, b;
  Registry::SessionId hung = Connect(a, Hello("hung", 2));
  uint64_t seq = scheduler_.Submit(Spec(), kT0).seq;
  Pump(kT0);
  ASSERT_EQ(a.Jobs().size(), 1u);
  Registry::SessionId healthy = Connect(b, Hello("healthy", 1));
  // Only the healthy one heartbeats.
  for (TimeUs t = kT0 + 10 * kSecond; t <= kT0 + 30 * kSecond;
       t += 10 * kSecond) {
    workers_.OnMessage(healthy, v1::WorkerMessage(), t);
    Pump(t);
  }
  // At +30 s the hung worker's lease ran out: it is told, and fenced.
  ASSERT_EQ(a.Revoked().size(), 1u);
  EXPECT_EQ(a.Revoked()[0].job_id(), core::FormatJobId(seq));
  EXPECT_EQ(a.Jobs().size(), 1u);
  ASSERT_EQ(b.Jobs().size(), 1u);
  EXPECT_EQ(SeqOf(b.Jobs()[0].job_id()), seq);
  EXPECT_EQ(b.Jobs()[0].attempt(), 2);
  EXPECT_EQ(scheduler_.FindRemote(seq)->worker, "healthy");
  EXPECT_EQ(workers_.leases_expired(), 1u);
  v1::ListWorkersResponse list;
  workers_.List(&list);
  ASSERT_EQ(list.workers_size(), 2);
  EXPECT_EQ(list.workers(0).worker_id(), "healthy");
  EXPECT_FALSE(list.workers(0).fenced());
  EXPECT_TRUE(list.workers(1).fenced());
  EXPECT_EQ(list.workers(1).expired_total(), 1u);
  EXPECT_EQ(list.workers(1).in_flight(), 0u);
  EXPECT_EQ(workers_.fenced(), 1u);
  google::protobuf::RepeatedPtrField<v1::KindStats> kinds;
  workers_.KindStats(&kinds);
  ASSERT_EQ(kinds.size(), 1);
  EXPECT_EQ(kinds[0].workers(), 2u);
  EXPECT_EQ(kinds[0].capacity(), 1u);  // The fenced one takes nothing.

  // The healthy worker is full: a new job waits rather than go to the
  // fenced one, however long.
  uint64_t next = scheduler_.Submit(Spec(), kT0 + 31 * kSecond).seq;
  Pump(kT0 + 31 * kSecond);
  workers_.OnMessage(healthy, v1::WorkerMessage(), kT0 + 100 * kSecond);
  Pump(kT0 + 100 * kSecond);
  EXPECT_EQ(a.Jobs().size(), 1u);
  EXPECT_EQ(scheduler_.Find(next)->state, v1::JOB_STATE_READY);

  // Any message from it lifts the fence: it is eligible again.
  workers_.OnMessage(hung, v1::WorkerMessage(), kT0 + 101 * kSecond);
  Pump(kT0 + 101 * kSecond);
  ASSERT_EQ(a.Jobs().size(), 2u);
  EXPECT_EQ(SeqOf(a.Jobs()[1].job_id()), next);
  EXPECT_EQ(workers_.fenced(), 0u);
  list.Clear();
  workers_.List(&list);
  EXPECT_FALSE(list.workers(1).fenced());
}

TEST_F(RegistryTest, ATimedOutRunDoesNotFenceAWorkerThatKeepsTalking) {
  FakeWorker w;
  Registry::SessionId id = Connect(w, Hello("w", 1));
  v1::JobSpec spec = Spec();
  spec.mutable_timeout()->set_seconds(5);
  spec.mutable_retry()->set_max_attempts(2);
  spec.mutable_retry()->mutable_initial_backoff()->set_seconds(1);
  uint64_t seq = scheduler_.Submit(spec, kT0).seq;
  Pump(kT0);
  workers_.OnMessage(id, v1::WorkerMessage(), kT0 + 4 * kSecond);
  Pump(kT0 + 5 * kSecond);
  EXPECT_EQ(scheduler_.Find(seq)->error(), "timed out after 5s");
  EXPECT_EQ(workers_.fenced(), 0u);
  EXPECT_EQ(workers_.leases_expired(), 0u);
  // Its retry goes to the same worker, the only one.
  Pump(kT0 + 6 * kSecond);
  ASSERT_EQ(w.Jobs().size(), 2u);
  EXPECT_EQ(w.Jobs()[1].attempt(), 2);
}

TEST_F(RegistryTest, AJobsTimeoutCapsItsLeaseWhateverTheHeartbeats) {
  FakeWorker w;
  Registry::SessionId id = Connect(w, Hello("w", 1));
  v1::JobSpec spec = Spec();
  spec.mutable_timeout()->set_seconds(5);
  spec.mutable_retry()->set_max_attempts(1);
  uint64_t seq = scheduler_.Submit(spec, kT0).seq;
  Pump(kT0);
  ASSERT_EQ(w.Jobs().size(), 1u);
  EXPECT_EQ(TimeFromProto(w.Jobs()[0].lease_expires_at()), kT0 + 5 * kSecond);
  workers_.OnMessage(id, v1::WorkerMessage(), kT0 + 4 * kSecond);
  Pump(kT0 + 5 * kSecond);
  EXPECT_EQ(scheduler_.Find(seq)->state, v1::JOB_STATE_DEAD);
  EXPECT_EQ(scheduler_.Find(seq)->error(), "timed out after 5s");
}

TEST_F(RegistryTest,
       ABrokenStreamSendsItsJobsToAnotherWorkerWhichFinishesThem) {
  FakeWorker a, b;
  Registry::SessionId first = Connect(a, Hello("a", 1));
  uint64_t seq = scheduler_.Submit(Spec(), kT0).seq;
  Pump(kT0);
  ASSERT_EQ(a.Jobs().size(), 1u);
  workers_.Disconnect(first, kT0 + kSecond);
  EXPECT_EQ(scheduler_.Find(seq)->state, v1::JOB_STATE_READY);
  EXPECT_EQ(scheduler_.Find(seq)->error(), "worker a disconnected");
  // The same id may come back; the job goes to whoever has room.
  Registry::SessionId second = Connect(b, Hello("a", 1), kT0 + kSecond);
  Pump(kT0 + kSecond);
  ASSERT_EQ(b.Jobs().size(), 1u);
  EXPECT_EQ(b.Jobs()[0].attempt(), 2);
  // The old attempt's result, sent on the new stream, is refused.
  workers_.OnMessage(second, ResultOf(a.Jobs()[0], true), kT0 + kSecond);
  EXPECT_EQ(scheduler_.Find(seq)->state, v1::JOB_STATE_RUNNING);
  workers_.OnMessage(second, ResultOf(b.Jobs()[0], true), kT0 + kSecond);
  EXPECT_EQ(scheduler_.Find(seq)->state, v1::JOB_STATE_SUCCEEDED);
  workers_.FlushAll();
  EXPECT_EQ(b.Refused().size(), 1u);
  auto succeeded = std::count(rec_.events.begin(), rec_.events.end(),
                              std::make_pair(seq, v1::JOB_STATE_SUCCEEDED));
  EXPECT_EQ(succeeded, 1);
}

TEST_F(RegistryTest, CancelRevokesAndProgressReachesTheObserver) {
  FakeWorker w;
  Registry::SessionId id = Connect(w, Hello("w", 2));
  uint64_t cancelled = scheduler_.Submit(Spec(), kT0).seq;
  uint64_t running = scheduler_.Submit(Spec(), kT0).seq;
  Pump(kT0);
  auto out = scheduler_.Cancel(cancelled, kT0);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->running_attempt.has_value());
  EXPECT_TRUE(workers_.Revoke(cancelled, *out->running_attempt, "cancelled"));
  workers_.FlushAll();
  ASSERT_EQ(w.Revoked().size(), 1u);
  EXPECT_EQ(w.Revoked()[0].reason(), "cancelled");

  v1::WorkerMessage m;
  auto* p = m.add_progress();
  p->set_job_id(core::FormatJobId(running));
  p->set_attempt(1);
  p->set_fraction(7.0);  // Clamped.
  p->set_message("half");
  auto* stale = m.add_progress();  // The cancelled job: ignored.
  stale->set_job_id(core::FormatJobId(cancelled));
  stale->set_attempt(1);
  auto* nan = m.add_progress();  // Not a fraction: ignored.
  nan->set_job_id(core::FormatJobId(running));
  nan->set_attempt(1);
  nan->set_fraction(std::nan(""));
  nan->set_message("nan");
  workers_.OnMessage(id, m, kT0);
  ASSERT_EQ(rec_.progress.size(), 1u);
  EXPECT_EQ(rec_.progress[0].first, running);
  EXPECT_EQ(rec_.progress[0].second.fraction(), 1.0);
  v1::Job proto;
  scheduler_.ToProto(*scheduler_.Find(running), &proto);
  EXPECT_EQ(proto.worker(), "w");
  EXPECT_EQ(proto.progress().message(), "half");
}

TEST_F(RegistryTest, DrainStopsAssignmentsAndTellsEveryWorker) {
  FakeWorker w;
  Connect(w, Hello("w", 5));
  workers_.Drain();
  scheduler_.Submit(Spec(), kT0);
  Pump(kT0);
  EXPECT_TRUE(w.Jobs().empty());
  ASSERT_FALSE(w.received.empty());
  EXPECT_TRUE(w.received.back().drain());
  FakeWorker late;
  auto refused = workers_.Connect(Hello("late", 1), "", late.stream, kT0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RegistryTest, ReplayKeepsLeasesAndRecoveryRequeuesLeasedJobs) {
  FakeWorker w;
  Registry::SessionId id = Connect(w, Hello("w", 1));
  uint64_t seq = scheduler_.Submit(Spec(), kT0).seq;
  Pump(kT0);
  workers_.OnMessage(id, v1::WorkerMessage(), kT0 + 25 * kSecond);
  Pump(kT0 + 30 * kSecond);  // Renewed to +55 s.
  core::Scheduler replica(Options(), nullptr);
  for (const auto& t : rec_.log) replica.Apply(t);
  ASSERT_NE(replica.FindRemote(seq), nullptr);
  EXPECT_EQ(replica.FindRemote(seq)->worker, "w");
  EXPECT_EQ(replica.FindRemote(seq)->until, kT0 + 55 * kSecond);
  // A snapshot carries the lease too.
  wal::v1::Transition snap;
  scheduler_.Snapshot(*scheduler_.Find(seq), snap.mutable_snapshot());
  core::Scheduler from_snapshot(Options(), nullptr);
  from_snapshot.Apply(snap);
  EXPECT_EQ(from_snapshot.FindRemote(seq)->until, kT0 + 55 * kSecond);
  // After a restart no worker holds anything: the job is READY again.
  EXPECT_EQ(replica.RequeueRunning(kT0 + 60 * kSecond), 1u);
  EXPECT_EQ(replica.Find(seq)->state, v1::JOB_STATE_READY);
  EXPECT_EQ(replica.FindRemote(seq), nullptr);
  EXPECT_EQ(replica.next_lease(), 0);
}

TEST_F(RegistryTest, StatsCountWaitingAndRunningPerKind) {
  FakeWorker w;
  Connect(w, Hello("w", 1, {"resize", "email"}));
  scheduler_.Submit(Spec("resize"), kT0);
  scheduler_.Submit(Spec("resize"), kT0);
  scheduler_.Submit(Spec("pdf"), kT0);
  Pump(kT0);
  google::protobuf::RepeatedPtrField<v1::KindStats> kinds;
  workers_.KindStats(&kinds);
  ASSERT_EQ(kinds.size(), 3);
  EXPECT_EQ(kinds[0].kind(), "email");
  EXPECT_EQ(kinds[0].workers(), 1u);
  EXPECT_EQ(kinds[1].kind(), "pdf");
  EXPECT_EQ(kinds[1].waiting(), 1u);
  EXPECT_EQ(kinds[1].workers(), 0u);
  EXPECT_EQ(kinds[2].kind(), "resize");
  EXPECT_EQ(kinds[2].waiting(), 1u);
  EXPECT_EQ(kinds[2].running(), 1u);
  EXPECT_EQ(kinds[2].capacity(), 1u);
  v1::ListWorkersResponse list;
  workers_.List(&list);
  ASSERT_EQ(list.workers_size(), 1);
  EXPECT_EQ(list.workers(0).in_flight(), 1u);
  EXPECT_EQ(list.workers(0).kinds_size(), 2);
}

}  // namespace
}  // namespace jobq::remote
