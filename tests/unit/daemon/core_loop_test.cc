// The core loop with a write-ahead log on a file system that fails on
// demand: acknowledgements wait for durability, failures reach the client,
// and recovery brings jobs back.
#include "daemon/core_loop.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>

#include "tests/unit/store/fault_env.h"

namespace jobq::daemon {
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
  s.set_kind("noop");
  return s;
}

class CoreLoopWalTest : public ::testing::Test {
 protected:
  void StartDaemon(CoreLoop::Options options = {}) {
    store::WalOptions wo;
    wo.dir = "/data";
    wo.env = &env_;
    auto wal = store::Wal::Open(wo);
    ASSERT_TRUE(wal.ok());
    wal_ = std::move(*wal);
    options.wal = wal_.get();
    options.on_wal_failure = [this](const absl::Status&) { ++failures_; };
    core_ = std::make_unique<CoreLoop>(std::move(options), &clock_);
    core::Scheduler& s = core_->scheduler();
    ASSERT_TRUE(
        wal_->Recover([&s](const wal::v1::Transition& t) { s.Apply(t); }).ok());
    s.RequeueRunning(clock_.Now());
    CoreLoop* core = core_.get();
    ASSERT_TRUE(wal_->Start([core](uint64_t b, absl::Status st) {
                      core->PostCommitted(b, std::move(st));
                    })
                    .ok());
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
                      [done](CoreContext&, const absl::Status& s,
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
  std::atomic<int> failures_{0};
};

TEST_F(CoreLoopWalTest, AJobIsAnsweredAndStartedOnlyOnceItIsDurable) {
  StartDaemon();
  // Hold the writer inside fdatasync until released.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> entered;
  std::atomic<bool> first{true};
  env_.SetSyncHook([&] {
    if (first.exchange(false)) {
      entered.set_value();
      released.wait();
    }
  });
  auto answer = std::async(std::launch::async, [&] { return Submit(Spec()); });
  entered.get_future().wait();
  // In the log, not yet durable: unknown, not started, not answered.
  EXPECT_EQ(answer.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(
      OnCore<size_t>([](CoreContext& c) { return c.scheduler.jobs().size(); }),
      0u);
  EXPECT_EQ(dispatcher_->count(), 0u);
  release.set_value();
  auto [status, seq] = answer.get();
  ASSERT_TRUE(status.ok()) << status;
  auto started = dispatcher_->WaitFor(1);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].seq, seq);
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
  env_.Heal();
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
  EXPECT_GE(failures_.load(), 1);
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
  options.compact_min_bytes = 2048;
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

}  // namespace
}  // namespace jobq::daemon
