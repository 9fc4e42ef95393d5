// Recurring schedules through the core's command API, over a write-ahead
// log on a fake file system and with a fake clock: commands answer once
// durable, slots fire when the clock reaches them (and only once their
// firing is stored), and a restart or a compaction never fires a slot
// twice.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>

#include "core/job.h"
#include "engine/core_api.h"
#include "engine/core_loop.h"
#include "store/wal.h"
#include "tests/unit/store/fault_env.h"

namespace jobq::engine {
namespace {

using namespace std::chrono_literals;

// A multiple of 10 s: "@every 10s" slots fall at kT0 + 10 s * k.
constexpr TimeUs kT0 = 1'700'000'000 * kSecond;

class RecordingDispatcher final : public core::Dispatcher {
 public:
  void Dispatch(std::vector<core::Assignment>&& jobs) override {
    std::lock_guard lock(mu_);
    for (auto& j : jobs) started_.push_back(j.seq);
    cv_.notify_all();
  }
  void Cancel(uint64_t, int32_t) override {}
  std::vector<uint64_t> WaitStarted(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 20s, [&] { return started_.size() >= n; });
    return started_;
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return started_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint64_t> started_;
};

template <typename T>
struct Answer {
  std::promise<absl::StatusOr<T>> promise;
  Done<T> done() {
    return [this](absl::StatusOr<T> r) { promise.set_value(std::move(r)); };
  }
  absl::StatusOr<T> get() { return promise.get_future().get(); }
};

v1::Schedule Def(const std::string& name, const std::string& spec,
                 const std::string& queue = "q") {
  v1::Schedule d;
  d.set_name(name);
  d.set_spec(spec);
  d.mutable_job()->set_queue(queue);
  d.mutable_job()->set_kind("work");
  return d;
}

class CoreApiSchedulesTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void TearDown() override {
    if (core_ != nullptr) Stop();
  }

  void Start(CoreLoop::Options options = {}) {
    store::WalOptions wo;
    wo.dir = "/data";
    wo.env = &env_;
    auto wal = store::Wal::Open(wo);
    ASSERT_TRUE(wal.ok());
    wal_ = std::move(*wal);
    options.log = wal_.get();
    core_ = std::make_unique<CoreLoop>(std::move(options), &clock_);
    core::Scheduler& s = core_->scheduler();
    ASSERT_TRUE(
        wal_->Recover([&s](const wal::v1::Transition& t) { s.Apply(t); }).ok());
    s.RequeueRunning(clock_.Now());
    s.CatchUpSchedules(clock_.Now());
    ASSERT_TRUE(wal_->Start(core_->CommitCallback(), core_->LogEvents()).ok());
    dispatcher_ = std::make_unique<RecordingDispatcher>();
    api_ = std::make_unique<CoreApi>(core_.get(), CoreApi::Options{});
    core_->Start(dispatcher_.get());
  }
  void Stop() {
    core_->Stop();
    wal_->Stop();
    api_.reset();
    core_.reset();
    wal_.reset();
  }

  absl::StatusOr<v1::Schedule> Create(v1::Schedule def) {
    Answer<v1::Schedule> a;
    api_->CreateSchedule(std::move(def), a.done());
    return a.get();
  }
  absl::StatusOr<v1::Schedule> Get(const std::string& name,
                                   QueueCheck check = nullptr) {
    Answer<v1::Schedule> a;
    api_->GetSchedule(name, std::move(check), a.done());
    return a.get();
  }
  absl::StatusOr<v1::ListSchedulesResponse> List(QueueCheck check = nullptr) {
    Answer<v1::ListSchedulesResponse> a;
    api_->ListSchedules(std::move(check), a.done());
    return a.get();
  }
  // Moves the clock; a command then wakes the core, whose turn fires what
  // is due.
  void AdvanceTo(TimeUs t) {
    clock_.Set(t);
    ASSERT_TRUE(List().ok());
  }
  size_t JobsHeld() {
    auto p = std::make_shared<std::promise<size_t>>();
    auto f = p->get_future();
    core_->Post(
        [p](CoreContext& c) { p->set_value(c.scheduler.jobs().size()); });
    return f.get();
  }

  store::FaultEnv env_;
  FakeClock clock_{kT0};
  std::unique_ptr<store::Wal> wal_;
  std::unique_ptr<CoreLoop> core_;
  std::unique_ptr<RecordingDispatcher> dispatcher_;
  std::unique_ptr<CoreApi> api_;
};

TEST_F(CoreApiSchedulesTest, ACreatedScheduleCanBeReadAndListed) {
  v1::Schedule def = Def("nightly", "0 3 * * *");
  def.set_time_zone("Europe/Berlin");
  auto created = Create(def);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->overlap(), v1::OVERLAP_ALLOW);
  EXPECT_EQ(created->catch_up(), v1::CATCH_UP_SKIP);
  EXPECT_TRUE(created->has_next_run());
  auto got = Get("nightly");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->time_zone(), "Europe/Berlin");
  EXPECT_EQ(got->next_run().seconds(), created->next_run().seconds());
  ASSERT_TRUE(Create(Def("alpha", "@hourly")).ok());
  auto list = List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->schedules_size(), 2);
  EXPECT_EQ(list->schedules(0).name(), "alpha");  // By name.
  EXPECT_EQ(Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Create(Def("alpha", "@daily")).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(CoreApiSchedulesTest, BadSpecsAndZonesAreRefusedNamingTheField) {
  auto bad = Create(Def("bad", "*/5 * * * MOON"));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("schedule.spec: day-of-week"),
            std::string::npos)
      << bad.status();
  v1::Schedule zone = Def("zone", "@daily");
  zone.set_time_zone("Europe/Atlantis");
  auto z = Create(zone);
  EXPECT_EQ(z.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(z.status().message().find("schedule.time_zone"), std::string::npos);
  EXPECT_EQ(List()->schedules_size(), 0);
}

TEST_F(CoreApiSchedulesTest, ASlotFiresWhenTheClockReachesItAndOnlyThen) {
  ASSERT_TRUE(Create(Def("tick", "@every 10s")).ok());
  AdvanceTo(kT0 + 9 * kSecond);
  EXPECT_EQ(JobsHeld(), 0u);
  AdvanceTo(kT0 + 10 * kSecond);
  auto started = dispatcher_->WaitStarted(1);
  ASSERT_EQ(started.size(), 1u);
  auto got = Get("tick");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->last_job_id(), core::FormatJobId(started[0]));
  EXPECT_EQ(got->next_run().seconds(), (kT0 + 20 * kSecond) / kSecond);
  AdvanceTo(kT0 + 15 * kSecond);
  EXPECT_EQ(JobsHeld(), 1u);
}

TEST_F(CoreApiSchedulesTest, AFiringIsAppliedOnlyOnceItsRecordIsDurable) {
  ASSERT_TRUE(Create(Def("tick", "@every 10s")).ok());
  // Hold the writer inside its next fdatasync: the firing's.
  struct Gate {
    std::promise<void> entered;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<bool> first{true};
  };
  auto gate = std::make_shared<Gate>();
  env_.SetSyncHook([gate] {
    if (gate->first.exchange(false)) {
      gate->entered.set_value();
      gate->released.wait();
    }
  });
  clock_.Set(kT0 + 10 * kSecond);
  core_->Post([](CoreContext&) {});  // A turn: the slot is due.
  gate->entered.get_future().wait();
  EXPECT_EQ(JobsHeld(), 0u);  // Written, not yet durable: no job.
  EXPECT_EQ(dispatcher_->count(), 0u);
  gate->release.set_value();
  dispatcher_->WaitStarted(1);
  EXPECT_EQ(JobsHeld(), 1u);
}

TEST_F(CoreApiSchedulesTest, ARestartDoesNotFireAStoredSlotAgain) {
  ASSERT_TRUE(Create(Def("tick", "@every 10s")).ok());
  AdvanceTo(kT0 + 10 * kSecond);
  dispatcher_->WaitStarted(1);
  Stop();
  Start();  // The same instant: the slot is in the log.
  AdvanceTo(kT0 + 10 * kSecond + 5);
  EXPECT_EQ(JobsHeld(), 1u);
  auto got = Get("tick");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->next_run().seconds(), (kT0 + 20 * kSecond) / kSecond);
  AdvanceTo(kT0 + 20 * kSecond);
  // The first job starts again (it was running at the stop), then the new.
  dispatcher_->WaitStarted(2);
  EXPECT_EQ(JobsHeld(), 2u);
}

TEST_F(CoreApiSchedulesTest, CompactionKeepsSchedulesAndTheirLastSlot) {
  Stop();
  CoreLoop::Options options;
  options.scheduler.max_finished = 0;
  options.compaction.min_bytes = 2048;
  Start(options);
  ASSERT_TRUE(Create(Def("tick", "@every 10s", "held")).ok());
  AdvanceTo(kT0 + 10 * kSecond);
  // Grow the log with jobs that end at once, until compaction has run.
  for (int i = 0; i < 200; ++i) {
    std::promise<uint64_t> p;
    api_->Submit({Def("x", "@daily", "other").job()},
                 [&p](const absl::Status&, const auto& out) {
                   p.set_value(out.empty() ? 0 : out[0].seq);
                 });
    uint64_t seq = p.get_future().get();
    Answer<v1::Job> cancel;
    api_->CancelJob(seq, nullptr, cancel.done());
    (void)cancel.get();
  }
  ASSERT_TRUE(List().ok());
  EXPECT_EQ(wal_->Stats().segments, 1u);
  Stop();
  Start();
  auto got = Get("tick");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->last_slot().seconds(), (kT0 + 10 * kSecond) / kSecond);
  EXPECT_FALSE(got->last_job_id().empty());
  AdvanceTo(kT0 + 15 * kSecond);
  auto again = Get("tick");
  EXPECT_EQ(again->last_job_id(), got->last_job_id());
}

TEST_F(CoreApiSchedulesTest, PauseResumeTriggerAndDelete) {
  ASSERT_TRUE(Create(Def("tick", "@every 10s")).ok());
  Answer<v1::Schedule> paused;
  api_->PauseSchedule("tick", true, nullptr, paused.done());
  ASSERT_TRUE(paused.get()->paused());
  AdvanceTo(kT0 + 30 * kSecond);
  EXPECT_EQ(JobsHeld(), 0u);

  Answer<v1::TriggerScheduleResponse> trigger;
  api_->TriggerSchedule("tick", nullptr, trigger.done());
  auto t = trigger.get();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->schedule().last_job_id(), t->job_id());
  EXPECT_EQ(JobsHeld(), 1u);

  Answer<v1::Schedule> resumed;
  api_->PauseSchedule("tick", false, nullptr, resumed.done());
  auto r = resumed.get();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->paused());
  // The slots passed while paused are skipped.
  EXPECT_EQ(r->next_run().seconds(), (kT0 + 40 * kSecond) / kSecond);

  Answer<v1::DeleteScheduleResponse> del;
  api_->DeleteSchedule("tick", nullptr, del.done());
  ASSERT_TRUE(del.get().ok());
  EXPECT_EQ(Get("tick").status().code(), absl::StatusCode::kNotFound);
  AdvanceTo(kT0 + 40 * kSecond);
  EXPECT_EQ(JobsHeld(), 1u);
}

TEST_F(CoreApiSchedulesTest, TheQueueCheckGuardsAndFiltersSchedules) {
  ASSERT_TRUE(Create(Def("mine", "@daily", "mine")).ok());
  ASSERT_TRUE(Create(Def("theirs", "@daily", "theirs")).ok());
  QueueCheck only_mine = [](const std::string& queue, absl::string_view what) {
    return queue == "mine" ? absl::OkStatus()
                           : absl::PermissionDeniedError(what);
  };
  auto list = List(only_mine);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->schedules_size(), 1);
  EXPECT_EQ(list->schedules(0).name(), "mine");
  EXPECT_EQ(Get("theirs", only_mine).status().code(),
            absl::StatusCode::kPermissionDenied);
  Answer<v1::DeleteScheduleResponse> del;
  api_->DeleteSchedule("theirs", only_mine, del.done());
  EXPECT_EQ(del.get().status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Get("theirs").ok());
}

}  // namespace
}  // namespace jobq::engine
