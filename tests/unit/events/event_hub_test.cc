#include "events/event_hub.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jobq::events {
namespace {

using ::testing::ElementsAre;

constexpr TimeUs kT0 = 1'700'000'000 * kSecond;

struct FakeStream : EventStream {
  bool AddEvents(const EventSlice& slice) override {
    if (closed) return false;
    slices.push_back(slice);
    for (size_t i = slice.begin; i < slice.end; ++i) {
      if (!MaskHas(slice.mask, slice.batch->at(i).state())) continue;
      if (events.size() >= capacity) return false;
      events.push_back(slice.batch->at(i));
    }
    return true;
  }
  void Flush() override { ++flushes; }
  void Close(const grpc::Status& s) override {
    closed = true;
    status = s;
  }
  size_t unsent_bytes() const override { return unsent; }
  void CutOff(const grpc::Status& s) override {
    cut = true;
    Close(s);
  }
  std::vector<v1::JobState> States() const {
    std::vector<v1::JobState> out;
    for (auto& e : events) out.push_back(e.state());
    return out;
  }
  std::vector<v1::JobEvent> events;
  std::vector<EventSlice> slices;
  size_t capacity = 1000;
  size_t unsent = 0;
  bool cut = false;
  int flushes = 0;
  bool closed = false;
  grpc::Status status;
};

v1::JobSpec Spec(const std::string& queue) {
  v1::JobSpec s;
  s.set_queue(queue);
  s.set_kind("noop");
  return s;
}

class EventHubTest : public ::testing::Test {
 protected:
  EventHub hub_;
  core::Scheduler s_{core::SchedulerOptions{}, &hub_};
};

TEST_F(EventHubTest, AJobWatchStartsWithItsCurrentStateAndEndsWithIt) {
  uint64_t seq = s_.Submit(Spec("q"), kT0).seq;
  auto stream = std::make_shared<FakeStream>();
  auto id = hub_.Subscribe(stream);
  hub_.WatchJob(id, *s_.Find(seq));
  hub_.CloseWhenDone(id);
  s_.TakeRunnable(kT0, 10);
  s_.Finish({seq, 1, true, "done", "", 0}, kT0);
  EXPECT_THAT(stream->States(),
              ElementsAre(v1::JOB_STATE_READY, v1::JOB_STATE_RUNNING,
                          v1::JOB_STATE_SUCCEEDED));
  EXPECT_EQ(stream->events.back().result(), "done");
  EXPECT_TRUE(stream->closed);
  EXPECT_TRUE(stream->status.ok());
  EXPECT_EQ(hub_.size(), 0u);
}

TEST_F(EventHubTest, WatchingAnEndedJobDeliversTheEndAndCloses) {
  uint64_t seq = s_.Submit(Spec("q"), kT0).seq;
  ASSERT_TRUE(s_.Cancel(seq, kT0).ok());
  auto stream = std::make_shared<FakeStream>();
  auto id = hub_.Subscribe(stream);
  hub_.WatchJob(id, *s_.Find(seq));
  hub_.CloseWhenDone(id);
  EXPECT_THAT(stream->States(), ElementsAre(v1::JOB_STATE_CANCELLED));
  EXPECT_TRUE(stream->closed);
}

TEST_F(EventHubTest, AQueueWatchSeesUnfinishedJobsThenEveryEventOfTheQueue) {
  uint64_t before = s_.Submit(Spec("q"), kT0).seq;
  s_.Submit(Spec("other"), kT0);
  auto stream = std::make_shared<FakeStream>();
  auto id = hub_.Subscribe(stream);
  hub_.WatchQueue(id, "q", s_);
  ASSERT_EQ(stream->events.size(), 1u);
  EXPECT_EQ(stream->events[0].job_id(), core::FormatJobId(before));
  s_.Submit(Spec("q"), kT0);
  s_.Submit(Spec("other"), kT0);
  EXPECT_EQ(stream->events.size(), 1u);  // The turn's events come at its end.
  hub_.FlushAll();
  EXPECT_EQ(stream->events.size(), 2u);
  EXPECT_FALSE(stream->closed);
}

TEST_F(EventHubTest, FlushAllFlushesOnlyStreamsThatReceivedEvents) {
  auto busy = std::make_shared<FakeStream>();
  auto idle = std::make_shared<FakeStream>();
  hub_.WatchQueue(hub_.Subscribe(busy), "busy", s_);
  hub_.WatchQueue(hub_.Subscribe(idle), "idle", s_);
  s_.Submit(Spec("busy"), kT0);
  s_.Submit(Spec("busy"), kT0);
  hub_.FlushAll();
  EXPECT_EQ(busy->flushes, 1);
  EXPECT_EQ(idle->flushes, 0);
}

TEST_F(EventHubTest, AStreamThatRefusesEventsIsDroppedAndOthersContinue) {
  auto slow = std::make_shared<FakeStream>();
  slow->capacity = 2;
  auto fast = std::make_shared<FakeStream>();
  hub_.WatchQueue(hub_.Subscribe(slow), "q", s_);
  hub_.WatchQueue(hub_.Subscribe(fast), "q", s_);
  for (int i = 0; i < 5; ++i) s_.Submit(Spec("q"), kT0);
  hub_.FlushAll();
  EXPECT_EQ(slow->events.size(), 2u);
  EXPECT_EQ(fast->events.size(), 5u);
  EXPECT_EQ(hub_.size(), 1u);
}

TEST_F(EventHubTest, AStateFilterDeliversOnlyThoseStatesAndStillEnds) {
  uint64_t seq = s_.Submit(Spec("q"), kT0).seq;
  auto stream = std::make_shared<FakeStream>();
  auto id = hub_.Subscribe(stream);
  hub_.WatchJob(id, *s_.Find(seq),
                EventHub::MaskOf(std::vector<int>{v1::JOB_STATE_SUCCEEDED}));
  hub_.CloseWhenDone(id);
  s_.TakeRunnable(kT0, 10);
  s_.Finish({seq, 1, true, "", "", 0}, kT0);
  EXPECT_THAT(stream->States(), ElementsAre(v1::JOB_STATE_SUCCEEDED));
  EXPECT_TRUE(stream->closed);

  auto running = std::make_shared<FakeStream>();
  hub_.WatchQueue(hub_.Subscribe(running), "q", s_,
                  EventHub::MaskOf(std::vector<int>{v1::JOB_STATE_RUNNING}));
  s_.Submit(Spec("q"), kT0);
  s_.TakeRunnable(kT0, 10);
  hub_.FlushAll();
  EXPECT_THAT(running->States(), ElementsAre(v1::JOB_STATE_RUNNING));
}

TEST_F(EventHubTest, ATurnsQueueEventsAreOneBatchSharedByEveryWatcher) {
  std::vector<std::shared_ptr<FakeStream>> watchers;
  for (int i = 0; i < 3; ++i) {
    watchers.push_back(std::make_shared<FakeStream>());
    hub_.WatchQueue(hub_.Subscribe(watchers.back()), "q", s_);
  }
  for (int i = 0; i < 4; ++i) s_.Submit(Spec("q"), kT0);
  hub_.FlushAll();
  for (const auto& w : watchers) {
    ASSERT_EQ(w->slices.size(), 1u);
    EXPECT_EQ(w->slices[0].batch, watchers[0]->slices[0].batch);
    EXPECT_EQ(w->events.size(), 4u);
  }
}

TEST_F(EventHubTest, AWatchStartedMidTurnGetsTheTurnsLaterEventsOnly) {
  uint64_t first = s_.Submit(Spec("q"), kT0).seq;
  auto early = std::make_shared<FakeStream>();
  hub_.WatchQueue(hub_.Subscribe(early), "q", s_);
  s_.TakeRunnable(kT0, 10);  // first: RUNNING, in this turn's batch.
  auto late = std::make_shared<FakeStream>();
  hub_.WatchQueue(hub_.Subscribe(late), "q", s_);  // Sees it RUNNING now.
  s_.Finish({first, 1, true, "", "", 0}, kT0);
  hub_.FlushAll();
  EXPECT_THAT(early->States(),
              ElementsAre(v1::JOB_STATE_READY, v1::JOB_STATE_RUNNING,
                          v1::JOB_STATE_SUCCEEDED));
  // Its current state, then what followed: nothing twice, nothing missed.
  EXPECT_THAT(late->States(),
              ElementsAre(v1::JOB_STATE_RUNNING, v1::JOB_STATE_SUCCEEDED));
}

TEST_F(EventHubTest, PastTheBudgetTheStreamsWithTheMostUnsentBytesAreCut) {
  StreamBudget budget(1000);
  hub_.Configure({.budget = &budget});
  auto small = std::make_shared<FakeStream>();
  auto big = std::make_shared<FakeStream>();
  auto bigger = std::make_shared<FakeStream>();
  small->unsent = 100;
  big->unsent = 500;
  bigger->unsent = 800;
  for (const auto& s : {small, big, bigger}) {
    hub_.WatchQueue(hub_.Subscribe(s), "q", s_);
  }
  budget.Charge(1400);
  hub_.FlushAll();
  // Cutting the largest brings the total to 600, under the cap.
  EXPECT_TRUE(bigger->cut);
  EXPECT_EQ(bigger->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_FALSE(big->cut);
  EXPECT_FALSE(small->cut);
  EXPECT_EQ(hub_.size(), 2u);
  EXPECT_EQ(budget.cut_memory.load(), 1u);
  budget.Release(1400);
}

TEST_F(EventHubTest, UnsubscribeStopsDelivery) {
  auto stream = std::make_shared<FakeStream>();
  auto id = hub_.Subscribe(stream);
  hub_.WatchQueue(id, "q", s_);
  s_.Submit(Spec("q"), kT0);
  hub_.Unsubscribe(id);
  hub_.FlushAll();
  EXPECT_TRUE(stream->events.empty());
}

TEST_F(EventHubTest, CloseAllEndsEveryStream) {
  auto a = std::make_shared<FakeStream>();
  auto b = std::make_shared<FakeStream>();
  hub_.WatchQueue(hub_.Subscribe(a), "q", s_);
  hub_.Subscribe(b);
  hub_.CloseAll(grpc::Status(grpc::StatusCode::UNAVAILABLE, "bye"));
  EXPECT_EQ(a->status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(b->status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(hub_.size(), 0u);
}

}  // namespace
}  // namespace jobq::events
