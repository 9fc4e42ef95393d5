// The core loop with a write-ahead log on a file system that fails on
// demand: acknowledgements wait for durability, failures reach the client,
// and recovery brings jobs back.
#include "engine/core_loop.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>

#include "store/wal.h"
#include "tests/unit/store/fault_env.h"

namespace jobq::engine {
namespace {

using namespace std::chrono_literals;

// Records dispatched jobs; runs nothing.
class FakeDispatcher final : public core::Dispatcher {
 public:
  void Dispatch(std::vector<core::Assignment>&& jobs) override {
    std::lock_guard lock(mu_);
    for (auto& j : jobs) got_.push_back(j);
    cv_.notify_all();
  }
  void Cancel(uint64_t, int32_t) override {}
  std::vector<core::Assignment> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 20s, [&] { return got_.size() >= n; });
    return got_;
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return got_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<core::Assignment> got_;
};

v1::JobSpec Spec(const std::string& queue = "q") {
  v1::JobSpec s;
  s.set_queue(queue);
  s.set_kind("work");
  return s;
}

// Holds the log's writer inside its next fdatasync until released. The
// hook's state is shared, so a writer still inside it outlives the gate.
class SyncGate {
 public:
  explicit SyncGate(store::FaultEnv& env) : state_(std::make_shared<State>()) {
    state_->released = state_->release.get_future().share();
    env.SetSyncHook([state = state_] {
      if (state->first.exchange(false)) {
        state->entered.set_value();
        state->released.wait();
      }
    });
  }
  ~SyncGate() { Release(); }
  void WaitEntered() { state_->entered.get_future().wait(); }
  void Release() {
    if (!state_->done.exchange(true)) state_->release.set_value();
  }

 private:
  struct State {
    std::promise<void> release;
    std::shared_future<void> released;
    std::promise<void> entered;
    std::atomic<bool> first{true};
    std::atomic<bool> done{false};
  };
  std::shared_ptr<State> state_;
};

class CoreLoopWalTest : public ::testing::Test {
 protected:
  void StartDaemon(CoreLoop::Options options = {}) {
    store::WalOptions wo;
    wo.dir = "/data";
    wo.env = &env_;
    wo.retry_min = 1ms;
    wo.retry_max = 4ms;
    auto wal = store::Wal::Open(wo);
    ASSERT_TRUE(wal.ok());
    wal_ = std::move(*wal);
    options.log = wal_.get();
    options.on_log_health = [this](const absl::Status& st) {
      std::lock_guard lock(health_mu_);
      health_.push_back(st);
      health_cv_.notify_all();
    };
    core_ = std::make_unique<CoreLoop>(std::move(options), &clock_);
    core::Scheduler& s = core_->scheduler();
    ASSERT_TRUE(
        wal_->Recover([&s](const wal::v1::Transition& t) { s.Apply(t); }).ok());
    s.RequeueRunning(clock_.Now());
    CoreLoop* core = core_.get();
    ASSERT_TRUE(wal_->Start(core->CommitCallback(), core->LogEvents()).ok());
    dispatcher_ = std::make_unique<FakeDispatcher>();
    core_->Start(dispatcher_.get());
  }
  void StopDaemon() {
    core_->Stop();
    wal_->Stop();
    core_.reset();
    wal_.reset();
  }
  void TearDown() override {
    if (core_ != nullptr) StopDaemon();
  }

  // Submits and waits for the answer.
  std::pair<absl::Status, uint64_t> Submit(v1::JobSpec spec) {
    auto done =
        std::make_shared<std::promise<std::pair<absl::Status, uint64_t>>>();
    auto f = done->get_future();
    core_->Post([spec, done](CoreContext& ctx) mutable {
      ctx.loop.Submit({spec}, ctx.now,
                      [done](const absl::Status& s,
                             const std::vector<core::SubmitOutcome>& out) {
                        done->set_value({s, out.empty() ? 0 : out[0].seq});
                      });
    });
    return f.get();
  }
  // Runs `fn` on the core thread and returns its result.
  template <typename T>
  T OnCore(std::function<T(CoreContext&)> fn) {
    auto p = std::make_shared<std::promise<T>>();
    auto f = p->get_future();
    core_->Post([fn, p](CoreContext& ctx) { p->set_value(fn(ctx)); });
    return f.get();
  }
  v1::JobState StateOf(uint64_t seq) {
    return OnCore<v1::JobState>([seq](CoreContext& ctx) {
      const core::Job* j = ctx.scheduler.Find(seq);
      return j == nullptr ? v1::JOB_STATE_UNSPECIFIED : v1::JobState(j->state);
    });
  }

  store::FaultEnv env_;
  FakeClock clock_;
  std::unique_ptr<store::Wal> wal_;
  std::unique_ptr<CoreLoop> core_;
  std::unique_ptr<FakeDispatcher> dispatcher_;
  // Waits for the `n`th report of the log's health since the start.
  absl::Status WaitHealth(size_t n) {
    std::unique_lock lock(health_mu_);
    health_cv_.wait_for(lock, 20s, [&] { return health_.size() >= n; });
    return health_.size() >= n ? health_[n - 1]
                               : absl::DeadlineExceededError("no report");
  }
  size_t failures() {
    std::lock_guard lock(health_mu_);
    size_t n = 0;
    for (const auto& h : health_) n += h.ok() ? 0 : 1;
    return n;
  }
  // A change made the way the API makes it: refused at once while the log
  // cannot write, else applied and answered once durable.
  absl::Status Change(std::function<void(CoreContext&)> change) {
    auto p = std::make_shared<std::promise<absl::Status>>();
    auto f = p->get_future();
    core_->Post([change, p](CoreContext& ctx) {
      if (!ctx.loop.Writable().ok()) {
        p->set_value(ctx.loop.Writable());
        return;
      }
      change(ctx);
      ctx.loop.AfterDurable([p](const absl::Status& s) { p->set_value(s); });
    });
    return f.get();
  }
  absl::Status Cancel(uint64_t seq) {
    return Change([seq](CoreContext& ctx) {
      ASSERT_TRUE(ctx.scheduler.Cancel(seq, ctx.now).ok());
    });
  }
  // A job in the paused queue "held": READY, never started.
  uint64_t SubmitHeld() {
    OnCore<bool>([](CoreContext& c) {
      c.scheduler.PauseQueue("held", true);
      return true;
    });
    auto [status, seq] = Submit(Spec("held"));
    EXPECT_TRUE(status.ok()) << status;
    return seq;
  }
  bool Paused(const std::string& queue) {
    return OnCore<bool>([queue](CoreContext& c) {
      const core::Queue* q = c.scheduler.FindQueue(queue);
      return q != nullptr && q->paused;
    });
  }

  std::mutex health_mu_;
  std::condition_variable health_cv_;
  std::vector<absl::Status> health_;  // Guarded by health_mu_.
};

TEST_F(CoreLoopWalTest, AJobIsAnsweredAndStartedOnlyOnceItIsDurable) {
  StartDaemon();
  // Hold the writer inside fdatasync until released.
  SyncGate gate(env_);
  auto answer = std::async(std::launch::async, [&] { return Submit(Spec()); });
  gate.WaitEntered();
  // In the log, not yet durable: unknown, not started, not answered.
  EXPECT_EQ(answer.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(
      OnCore<size_t>([](CoreContext& c) { return c.scheduler.jobs().size(); }),
      0u);
  EXPECT_EQ(dispatcher_->count(), 0u);
  gate.Release();
  auto [status, seq] = answer.get();
  ASSERT_TRUE(status.ok()) << status;
  auto started = dispatcher_->WaitFor(1);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].seq, seq);
}

// A deposed leader's log stores nothing more and its writer may be stuck
// (reconnecting to a database that restarts): at shutdown, what waits on it
// is answered UNAVAILABLE at once, and the job is not kept.
TEST_F(CoreLoopWalTest, AbandonedEvenWhileWritingASubmitIsAnsweredUnavailable) {
  StartDaemon();
  SyncGate gate(env_);
  auto answer = std::async(std::launch::async, [&] { return Submit(Spec()); });
  gate.WaitEntered();
  // While the log writes, a plain shutdown leaves the answer to it.
  OnCore<bool>([](CoreContext& c) {
    c.loop.acks().AbandonWaiting(absl::UnavailableError("deposed"), false);
    return true;
  });
  EXPECT_EQ(answer.wait_for(0s), std::future_status::timeout);
  OnCore<bool>([](CoreContext& c) {
    c.loop.acks().AbandonWaiting(absl::UnavailableError("deposed"), true);
    return true;
  });
  auto [status, seq] = answer.get();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(status.message(), "deposed");
  EXPECT_EQ(
      OnCore<size_t>([](CoreContext& c) { return c.scheduler.jobs().size(); }),
      0u);
  // Once the log has written that batch, the abandoned job still does not
  // start: the next job submitted is the only one.
  gate.Release();
  auto [next_status, next] = Submit(Spec());
  ASSERT_TRUE(next_status.ok()) << next_status;
  auto started = dispatcher_->WaitFor(1);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].seq, next);
}

// noop has nothing to run: the core finishes it in the turn that starts
// it, with no hand-off to the worker pool, and both records are stored.
TEST_F(CoreLoopWalTest, ANoopIsFinishedByTheCoreInTheTurnThatStartsIt) {
  StartDaemon();
  v1::JobSpec spec = Spec();
  spec.set_kind("noop");
  auto [status, seq] = Submit(spec);
  ASSERT_TRUE(status.ok()) << status;
  // The turn that acknowledged it has ended: it ran there.
  EXPECT_EQ(StateOf(seq), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(dispatcher_->count(), 0u);
  StopDaemon();
  StartDaemon();
  EXPECT_EQ(StateOf(seq), v1::JOB_STATE_SUCCEEDED);
}

// A turn finishes at most 256 noops itself; the rest of what it starts
// goes to the worker pool, so that a deep queue of noops cannot hold the
// core for a long turn.
TEST_F(CoreLoopWalTest, PastItsShareOfATurnNoopsGoToTheWorkerPool) {
  StartDaemon();
  std::vector<v1::JobSpec> specs(1000, Spec());
  for (auto& s : specs) s.set_kind("noop");
  auto done = std::make_shared<std::promise<std::vector<uint64_t>>>();
  auto f = done->get_future();
  core_->Post([specs, done](CoreContext& ctx) mutable {
    ctx.loop.Submit(std::move(specs), ctx.now,
                    [done](const absl::Status& s,
                           const std::vector<core::SubmitOutcome>& out) {
                      std::vector<uint64_t> seqs;
                      for (const auto& o : out) seqs.push_back(o.seq);
                      done->set_value(s.ok() ? seqs : std::vector<uint64_t>{});
                    });
  });
  std::vector<uint64_t> seqs = f.get();
  ASSERT_EQ(seqs.size(), 1000u);
  EXPECT_EQ(dispatcher_->WaitFor(744).size(), 744u);
  size_t succeeded = 0, running = 0;
  for (uint64_t seq : seqs) {
    v1::JobState st = StateOf(seq);
    succeeded += st == v1::JOB_STATE_SUCCEEDED;
    running += st == v1::JOB_STATE_RUNNING;
  }
  EXPECT_EQ(succeeded, 256u);
  EXPECT_EQ(running, 744u);
}

TEST_F(CoreLoopWalTest, ASubmitThatCannotBeStoredFailsAndLeavesNoJob) {
  StartDaemon();
  auto [ok_status, kept] = Submit(Spec("paused"));
  ASSERT_TRUE(ok_status.ok());
  env_.FailAppendsAfter(0, ENOSPC);
  auto [status, lost] = Submit(Spec());
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_EQ(StateOf(lost), v1::JOB_STATE_UNSPECIFIED);
  // Reads go on, and so do submits once there is space again.
  EXPECT_NE(StateOf(kept), v1::JOB_STATE_UNSPECIFIED);
  EXPECT_EQ(WaitHealth(1).code(), absl::StatusCode::kResourceExhausted);
  // While the log cannot write, submits are refused at once.
  EXPECT_EQ(Submit(Spec()).first.code(), absl::StatusCode::kResourceExhausted);
  env_.Heal();
  ASSERT_TRUE(WaitHealth(2).ok());
  auto [later, seq] = Submit(Spec());
  EXPECT_TRUE(later.ok()) << later;
  StopDaemon();
  StartDaemon();
  EXPECT_NE(StateOf(kept), v1::JOB_STATE_UNSPECIFIED);
  EXPECT_NE(StateOf(seq), v1::JOB_STATE_UNSPECIFIED);
  EXPECT_EQ(StateOf(lost), v1::JOB_STATE_UNSPECIFIED);
}

TEST_F(CoreLoopWalTest, AFailedFsyncFailsEverySubmitAfterItAndIsReported) {
  StartDaemon();
  auto [first, seq] = Submit(Spec());
  ASSERT_TRUE(first.ok());
  env_.FailSyncs();
  EXPECT_EQ(Submit(Spec()).first.code(), absl::StatusCode::kUnavailable);
  env_.Heal();
  EXPECT_EQ(Submit(Spec()).first.code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(failures(), 1u);
  EXPECT_NE(StateOf(seq), v1::JOB_STATE_UNSPECIFIED);  // Reads still work.
}

TEST_F(CoreLoopWalTest, ADuplicateAfterAFailedBatchIsStillAnswered) {
  StartDaemon();
  v1::JobSpec keyed = Spec();
  keyed.set_idempotency_key("once");
  auto [first, seq] = Submit(keyed);
  ASSERT_TRUE(first.ok());
  env_.FailSyncs();
  EXPECT_EQ(Submit(Spec()).first.code(), absl::StatusCode::kUnavailable);
  // A turn that writes nothing: its answer follows the last batch's fate
  // instead of waiting for a batch that will never come.
  auto answer = std::async(std::launch::async, [&] { return Submit(keyed); });
  ASSERT_EQ(answer.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(answer.get().first.code(), absl::StatusCode::kUnavailable);
}

TEST_F(CoreLoopWalTest, JobsRunningAtACrashAreReadyAgainWithTheAttemptCounted) {
  StartDaemon();
  auto [status, seq] = Submit(Spec());
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(dispatcher_->WaitFor(1)[0].attempt, 1);
  // Make sure the Start record is durable, then "crash" (no result).
  ASSERT_TRUE(Submit(Spec("other")).first.ok());
  StopDaemon();
  env_.DropUnsynced();
  StartDaemon();
  auto started = dispatcher_->WaitFor(2);
  bool found = false;
  for (const auto& a : started) {
    if (a.seq == seq) {
      found = true;
      EXPECT_EQ(a.attempt, 2);
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(CoreLoopWalTest, CompactionKeepsEveryLiveJobAndDropsTheRest) {
  CoreLoop::Options options;
  options.scheduler.max_finished = 0;  // Finished jobs are forgotten at once.
  options.compaction.min_bytes = 2048;
  StartDaemon(options);
  OnCore<bool>([](CoreContext& c) {
    c.scheduler.PauseQueue("held", true);
    return true;
  });
  std::vector<uint64_t> live;
  for (int i = 0; i < 200; ++i) {
    auto [s, seq] = Submit(Spec("held"));
    ASSERT_TRUE(s.ok());
    if (i % 10 == 0) {
      live.push_back(seq);
    } else {
      ASSERT_TRUE(OnCore<bool>([seq = seq](CoreContext& c) {
        return c.scheduler.Cancel(seq, c.now).ok();
      }));
    }
  }
  // One more turn so that compaction's last batch is written.
  ASSERT_TRUE(Submit(Spec("held")).first.ok());
  store::WalStats stats = wal_->Stats();
  EXPECT_EQ(stats.segments, 1u);
  EXPECT_LT(stats.log_bytes, 8192u);
  StopDaemon();
  StartDaemon();
  EXPECT_EQ(OnCore<bool>([](CoreContext& c) {
              return c.scheduler.FindQueue("held")->paused;
            }),
            true);
  for (uint64_t seq : live) EXPECT_EQ(StateOf(seq), v1::JOB_STATE_READY);
}

TEST_F(CoreLoopWalTest, AJobsAttemptsSurviveRecoveryAndCompaction) {
  CoreLoop::Options options;
  options.scheduler.max_finished = 0;  // Finished jobs are forgotten at once.
  options.compaction.min_bytes = 2048;
  StartDaemon(options);
  auto [status, seq] = Submit(Spec());
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(dispatcher_->WaitFor(1).back().attempt, 1);
  // 1: lost, READY again at once; 2: fails for good (DEAD, kept).
  ASSERT_TRUE(OnCore<bool>([seq = seq](CoreContext& c) {
    return c.scheduler.Finish(
        {seq, 1, false, "", "worker gone", 0, core::Retry::kNow}, c.now);
  }));
  ASSERT_EQ(dispatcher_->WaitFor(2).back().attempt, 2);
  ASSERT_TRUE(OnCore<bool>([seq = seq](CoreContext& c) {
    return c.scheduler.Finish(
        {seq, 2, false, "", "boom", 3, core::Retry::kNever}, c.now);
  }));
  auto attempts = [this, seq = seq] {
    return OnCore<std::string>([seq](CoreContext& c) {
      v1::Job job;
      c.scheduler.ToProto(*c.scheduler.Find(seq), &job);
      EXPECT_EQ(job.attempts_size(), 2);
      std::string out;
      for (const auto& a : job.attempts()) out += a.ShortDebugString() + "\n";
      return out;
    });
  };
  const std::string want = attempts();
  EXPECT_NE(want.find("ATTEMPT_OUTCOME_LOST"), std::string::npos) << want;
  EXPECT_NE(want.find("ATTEMPT_OUTCOME_FAILED"), std::string::npos) << want;
  ASSERT_TRUE(Submit(Spec("held")).first.ok());  // After the finishes.

  // Replayed from the log's records.
  StopDaemon();
  StartDaemon(options);
  EXPECT_EQ(attempts(), want);

  // Compacted: enough cancelled jobs that the log outgrows its snapshot.
  OnCore<bool>([](CoreContext& c) {
    c.scheduler.PauseQueue("held", true);
    return true;
  });
  for (int i = 0; i < 200; ++i) {
    auto [s, held] = Submit(Spec("held"));
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(Cancel(held).ok());
  }
  ASSERT_TRUE(Submit(Spec("held")).first.ok());
  EXPECT_EQ(wal_->Stats().segments, 1u);
  EXPECT_LT(wal_->Stats().log_bytes, 8192u);
  StopDaemon();
  StartDaemon(options);
  EXPECT_EQ(StateOf(seq), v1::JOB_STATE_DEAD);
  EXPECT_EQ(attempts(), want);
}

TEST_F(CoreLoopWalTest, AChangeIsAnsweredOnlyOnceItIsDurable) {
  StartDaemon();
  uint64_t seq = SubmitHeld();
  // Hold the writer inside fdatasync until released.
  SyncGate gate(env_);
  auto answer = std::async(std::launch::async, [&] { return Cancel(seq); });
  gate.WaitEntered();
  EXPECT_EQ(answer.wait_for(0s), std::future_status::timeout);
  gate.Release();
  EXPECT_TRUE(answer.get().ok());
}

TEST_F(CoreLoopWalTest,
       ChangesWhileTheLogCannotWriteAreRefusedAndChangeNothing) {
  StartDaemon();
  uint64_t seq = SubmitHeld();
  env_.FailAppendsAfter(0, ENOSPC);
  // The first write to fail: a submit, refused, and the log now stalled.
  EXPECT_EQ(Submit(Spec("held")).first.code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_EQ(WaitHealth(1).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Cancel(seq).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Change([](CoreContext& c) {
              c.scheduler.PauseQueue("held", false);
            }).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Change([](CoreContext& c) {
              c.scheduler.SetMaxConcurrency("held", 3);
            }).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(StateOf(seq), v1::JOB_STATE_READY);
  EXPECT_TRUE(Paused("held"));
  // Space again: the same changes go through, durably.
  env_.Heal();
  ASSERT_TRUE(WaitHealth(2).ok());
  EXPECT_TRUE(Cancel(seq).ok());
  EXPECT_TRUE(Change([](CoreContext& c) {
                c.scheduler.PauseQueue("held", false);
              }).ok());
  StopDaemon();
  StartDaemon();
  EXPECT_EQ(StateOf(seq), v1::JOB_STATE_CANCELLED);
  EXPECT_FALSE(Paused("held"));
}

TEST_F(CoreLoopWalTest, JobsFinishingWhileTheLogCannotWriteAreStoredOnceItCan) {
  StartDaemon();
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 3; ++i) {
    auto [status, seq] = Submit(Spec());
    ASSERT_TRUE(status.ok());
    seqs.push_back(seq);
  }
  auto started = dispatcher_->WaitFor(3);
  // Due in 10 s; its batch follows the starts', so they are durable.
  v1::JobSpec later = Spec();
  later.mutable_delay()->set_seconds(10);
  auto [later_status, later_seq] = Submit(later);
  ASSERT_TRUE(later_status.ok());
  env_.FailAppendsAfter(0, ENOSPC);
  // The runs end while the disk is full.
  std::vector<core::RunResult> results;
  for (const auto& a : started) {
    core::RunResult r;
    r.seq = a.seq;
    r.attempt = a.attempt;
    r.success = true;
    results.push_back(r);
  }
  core_->PostResults(std::move(results));
  ASSERT_EQ(WaitHealth(1).code(), absl::StatusCode::kResourceExhausted);
  // In memory they have ended; reads say so; nothing new starts, not
  // even a job that comes due.
  for (uint64_t seq : seqs) EXPECT_EQ(StateOf(seq), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(OnCore<bool>([](CoreContext& c) { return c.loop.degraded(); }),
            true);
  clock_.Advance(11 * kSecond);
  OnCore<bool>([](CoreContext&) { return true; });  // A turn: promotes it.
  EXPECT_EQ(StateOf(later_seq), v1::JOB_STATE_READY);
  EXPECT_EQ(dispatcher_->count(), 3u);
  env_.Heal();
  ASSERT_TRUE(WaitHealth(2).ok());
  // Writing again: the job held back starts now.
  auto now_started = dispatcher_->WaitFor(4);
  ASSERT_EQ(now_started.size(), 4u);
  EXPECT_EQ(now_started[3].seq, later_seq);
  StopDaemon();
  StartDaemon();
  for (uint64_t seq : seqs) EXPECT_EQ(StateOf(seq), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(CoreLoopWalTest,
       ASubmitStoredBeforeACompactionThatCannotWriteIsAnsweredOnce) {
  CoreLoop::Options options;
  options.scheduler.max_finished = 0;  // Finished jobs are forgotten at once.
  options.compaction.min_bytes = 2048;
  StartDaemon(options);
  // Live jobs enough for a log of over 2 KiB that is no larger than twice
  // their snapshot: no compaction yet.
  std::vector<uint64_t> held;
  for (int i = 0; i < 40; ++i) held.push_back(SubmitHeld());
  // The writer holds the next batch, the submit's, inside fdatasync.
  SyncGate gate(env_);
  auto answer = std::async(std::launch::async, [&] { return Submit(Spec()); });
  gate.WaitEntered();
  // The held jobs end and are forgotten: the log is now mostly dead, and
  // compaction starts, writing the submit's enqueue again into its new
  // segment. There is no room for that segment.
  env_.FailAppendsAfter(0, ENOSPC);
  OnCore<bool>([&held](CoreContext& c) {
    for (uint64_t seq : held) EXPECT_TRUE(c.scheduler.Cancel(seq, c.now).ok());
    return true;
  });
  gate.Release();
  ASSERT_EQ(WaitHealth(1).code(), absl::StatusCode::kResourceExhausted);
  env_.Heal();
  // Its first copy was stored; the second is not given back: the submit
  // is answered OK once the new segment holds it, and the job is there.
  auto [status, seq] = answer.get();
  EXPECT_TRUE(status.ok()) << status;
  ASSERT_TRUE(WaitHealth(2).ok());
  StopDaemon();
  StartDaemon(options);
  EXPECT_NE(StateOf(seq), v1::JOB_STATE_UNSPECIFIED);
}

// Every run slot taken and a rate-limited queue out of tokens, with READY
// jobs: nothing refills its bucket, since no start is tried. Once its next
// token is due, the core must not arm its timer for that past time turn
// after turn: a timer re-armed at 0 ms from its own callback runs again in
// the same pass of the loop, and the core would never read its channels.
TEST_F(CoreLoopWalTest, AFullPoolBesideARateLimitedQueueDoesNotStallTheCore) {
  CoreLoop::Options options;
  options.max_running = 1;
  StartDaemon(options);
  ASSERT_TRUE(Change([](CoreContext& c) {
                c.scheduler.SetQueueLimits("slow", {.rate = 10.0, .burst = 1});
              }).ok());
  ASSERT_TRUE(Submit(Spec("slow")).first.ok());
  ASSERT_EQ(dispatcher_->WaitFor(1).size(), 1u);  // The token and the slot.
  auto [status, waiting] = Submit(Spec("slow"));
  ASSERT_TRUE(status.ok()) << status;
  const TimeUs start = clock_.Now();
  clock_.Set(start + kSecond);  // Its next token is long due.
  // Each task is a turn that arms the timer; each must still be read.
  bool answered = true;
  for (int i = 0; i < 3 && answered; ++i) {
    auto p = std::make_shared<std::promise<void>>();
    auto f = p->get_future();
    core_->Post([p](CoreContext&) { p->set_value(); });
    answered = f.wait_for(10s) == std::future_status::ready;
  }
  // Were it spinning, the clock going back lets the loop out, so that the
  // test ends.
  if (!answered) clock_.Set(start);
  EXPECT_TRUE(answered) << "the core stopped reading its tasks";
  EXPECT_EQ(StateOf(waiting), v1::JOB_STATE_READY);  // Waits for a slot.
  EXPECT_EQ(dispatcher_->count(), 1u);
}

}  // namespace
}  // namespace jobq::engine
