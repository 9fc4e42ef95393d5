// The core's behaviour through its command API, with no gRPC server: what
// the front ends see of submits, reads, cancels, listings, watches, queue
// controls and figures, and that nothing goes unanswered once the core has
// stopped.
#include "engine/core_api.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>

#include "core/job.h"
#include "engine/core_loop.h"

namespace jobq::engine {
namespace {

using namespace std::chrono_literals;

// Records dispatched jobs and cancels; runs nothing.
class FakeDispatcher final : public core::Dispatcher {
 public:
  void Dispatch(std::vector<core::Assignment>&& jobs) override {
    std::lock_guard lock(mu_);
    for (auto& j : jobs) started_.push_back(j.seq);
    cv_.notify_all();
  }
  void Cancel(uint64_t seq, int32_t) override {
    std::lock_guard lock(mu_);
    cancelled_.push_back(seq);
  }
  void WaitStarted(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 20s, [&] { return started_.size() >= n; });
  }
  std::vector<uint64_t> cancelled() {
    std::lock_guard lock(mu_);
    return cancelled_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint64_t> started_;
  std::vector<uint64_t> cancelled_;
};

// An event stream that records what the core sends it.
class RecordingStream final : public events::EventStream {
 public:
  bool AddEvents(const events::EventSlice& slice) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    for (size_t i = slice.begin; i < slice.end; ++i) {
      if (events::MaskHas(slice.mask, slice.batch->at(i).state())) {
        states_.push_back(slice.batch->at(i).state());
      }
    }
    cv_.notify_all();
    return true;
  }
  void AddOpening() override {
    std::lock_guard lock(mu_);
    opened_ = true;
  }
  void Flush() override {}
  void Close(const grpc::Status& status) override {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    status_ = status;
    cv_.notify_all();
  }
  // The stream's end, once it came.
  grpc::Status WaitClosed() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 20s, [&] { return closed_; });
    EXPECT_TRUE(closed_);
    return status_;
  }
  std::vector<v1::JobState> WaitStates(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 20s, [&] { return states_.size() >= n; });
    return states_;
  }
  bool opened() {
    std::lock_guard lock(mu_);
    return opened_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::JobState> states_;
  bool opened_ = false;
  bool closed_ = false;
  grpc::Status status_;
};

v1::JobSpec Spec(const std::string& queue = "q",
                 const std::string& kind = "work") {
  v1::JobSpec s;
  s.set_queue(queue);
  s.set_kind(kind);
  return s;
}

// Waits for a Done<T>'s answer.
template <typename T>
struct Answer {
  std::promise<absl::StatusOr<T>> promise;
  Done<T> done() {
    return [this](absl::StatusOr<T> r) { promise.set_value(std::move(r)); };
  }
  absl::StatusOr<T> get() { return promise.get_future().get(); }
};

class CoreApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void TearDown() override { loop_->Stop(); }

  void Start(size_t max_watchers = 0) {
    CoreLoop::Options options;
    // Jobs of kind "work" run on the pool, which here only records them.
    options.scheduler.is_local = [](const std::string& kind) {
      return kind == "work";
    };
    loop_ = std::make_unique<CoreLoop>(std::move(options), &clock_);
    api_ = std::make_unique<CoreApi>(
        loop_.get(), CoreApi::Options{.max_watchers_per_queue = max_watchers});
    loop_->Start(&dispatcher_);
  }

  // Submits and returns the job's id, or the error.
  absl::StatusOr<uint64_t> Submit(v1::JobSpec spec) {
    std::promise<absl::StatusOr<uint64_t>> p;
    std::vector<v1::JobSpec> specs{std::move(spec)};
    bool posted = api_->Submit(
        std::move(specs), [&p](const absl::Status& s,
                               const std::vector<core::SubmitOutcome>& out) {
          if (!s.ok()) return p.set_value(s);
          if (out[0].refused()) {
            return p.set_value(SubmitRefusal(out[0], "job."));
          }
          p.set_value(out[0].seq);
        });
    if (!posted) return absl::UnavailableError("the core has stopped");
    return p.get_future().get();
  }

  absl::StatusOr<v1::Job> Get(uint64_t seq, QueueCheck check = nullptr) {
    Answer<v1::Job> a;
    api_->GetJob(seq, std::move(check), a.done());
    return a.get();
  }

  SystemClock clock_;
  FakeDispatcher dispatcher_;
  std::unique_ptr<CoreLoop> loop_;
  std::unique_ptr<CoreApi> api_;
};

TEST_F(CoreApiTest, ASubmittedJobCanBeReadBack) {
  auto seq = Submit(Spec("mail"));
  ASSERT_TRUE(seq.ok()) << seq.status();
  auto job = Get(*seq);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->id(), core::FormatJobId(*seq));
  EXPECT_EQ(job->spec().queue(), "mail");
}

TEST_F(CoreApiTest, AnUnknownJobIsNotFound) {
  EXPECT_EQ(Get(42).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoreApiTest, TheQueueCheckDecidesWhoSeesAJob) {
  auto seq = Submit(Spec("secret"));
  ASSERT_TRUE(seq.ok());
  std::string asked;
  auto job = Get(*seq, [&asked](const std::string& queue, absl::string_view) {
    asked = queue;
    return absl::PermissionDeniedError("no");
  });
  EXPECT_EQ(job.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(asked, "secret");
}

TEST_F(CoreApiTest, CancellingARunningJobStopsItsRunAndEndsIt) {
  auto seq = Submit(Spec());
  ASSERT_TRUE(seq.ok());
  dispatcher_.WaitStarted(1);
  Answer<v1::Job> cancel;
  api_->CancelJob(*seq, nullptr, cancel.done());
  auto job = cancel.get();
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(dispatcher_.cancelled(), std::vector<uint64_t>{*seq});
  // A second cancel finds it ended.
  Answer<v1::Job> again;
  api_->CancelJob(*seq, nullptr, again.done());
  EXPECT_EQ(again.get().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CoreApiTest, ListingPagesThroughTheMatchingJobsInIdOrder) {
  std::vector<uint64_t> in_a;
  for (int i = 0; i < 5; ++i) {
    auto a = Submit(Spec("a", "remote-kind"));
    ASSERT_TRUE(a.ok());
    in_a.push_back(*a);
    ASSERT_TRUE(Submit(Spec("b", "remote-kind")).ok());
  }
  std::vector<uint64_t> listed;
  ListQuery q;
  q.filter.queue = "a";
  q.filter.state = v1::JOB_STATE_READY;
  q.page_size = 2;
  for (int pages = 0; pages < 10; ++pages) {
    Answer<core::ListedJobs> page;
    api_->ListJobs(q, page.done());
    auto answer = page.get();
    ASSERT_TRUE(answer.ok());
    auto r = std::make_unique<v1::ListJobsResponse>();
    answer->ToProto(r.get());
    EXPECT_LE(r->jobs_size(), 2);
    for (const auto& j : r->jobs()) {
      uint64_t seq;
      ASSERT_TRUE(core::ParseJobId(j.id(), &seq));
      listed.push_back(seq);
    }
    if (r->next_page_token().empty()) break;
    ASSERT_TRUE(core::ParseJobId(r->next_page_token(), &q.after));
  }
  EXPECT_EQ(listed, in_a);
}

TEST_F(CoreApiTest, AWatchedJobStreamsItsStatesAndEnds) {
  auto seq = Submit(Spec("w", "remote-kind"));
  ASSERT_TRUE(seq.ok());
  auto stream = std::make_shared<RecordingStream>();
  auto watcher = std::make_shared<Watcher>(stream);
  WatchSpec spec;
  spec.seqs = {*seq};
  api_->Watch(watcher, std::move(spec));
  EXPECT_EQ(stream->WaitStates(1).front(), v1::JOB_STATE_READY);
  Answer<v1::Job> cancel;
  api_->CancelJob(*seq, nullptr, cancel.done());
  ASSERT_TRUE(cancel.get().ok());
  EXPECT_TRUE(stream->WaitClosed().ok());
  EXPECT_EQ(stream->WaitStates(2).back(), v1::JOB_STATE_CANCELLED);
}

TEST_F(CoreApiTest, AWatchOfAMissingJobEndsNotFound) {
  auto stream = std::make_shared<RecordingStream>();
  WatchSpec spec;
  spec.seqs = {7};
  api_->Watch(std::make_shared<Watcher>(stream), std::move(spec));
  EXPECT_EQ(stream->WaitClosed().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CoreApiTest, QueueWatchersAreLimitedPerQueue) {
  loop_->Stop();
  Start(/*max_watchers=*/1);
  auto first = std::make_shared<RecordingStream>();
  WatchSpec a;
  a.queue = "busy";
  api_->Watch(std::make_shared<Watcher>(first), a);
  auto second = std::make_shared<RecordingStream>();
  api_->Watch(std::make_shared<Watcher>(second), a);
  EXPECT_EQ(second->WaitClosed().error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(first->opened());
  EXPECT_EQ(api_->watchers_refused(), 1u);
}

TEST_F(CoreApiTest, SubmitAndWatchOpensWithTheJobsFirstState) {
  auto stream = std::make_shared<RecordingStream>();
  api_->SubmitAndWatch(std::make_shared<Watcher>(stream),
                       Spec("sw", "remote-kind"), events::kAllStates);
  EXPECT_EQ(stream->WaitStates(1).front(), v1::JOB_STATE_READY);
}

TEST_F(CoreApiTest, ResumingOrLimitingAnUnknownQueueIsNotFound) {
  Answer<v1::QueueStats> resume;
  api_->PauseQueue("nope", false, resume.done());
  EXPECT_EQ(resume.get().status().code(), absl::StatusCode::kNotFound);
  Answer<v1::QueueStats> limit;
  api_->SetQueueLimits("nope", {.max_concurrency = 3}, limit.done());
  EXPECT_EQ(limit.get().status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoreApiTest, PausingCreatesAQueueAndLimitsKeepWhatIsNotGiven) {
  Answer<v1::QueueStats> pause;
  api_->PauseQueue("new", true, pause.done());
  auto paused = pause.get();
  ASSERT_TRUE(paused.ok());
  EXPECT_TRUE(paused->paused());
  Answer<v1::QueueStats> concurrency;
  api_->SetQueueLimits("new", {.max_concurrency = 4}, concurrency.done());
  ASSERT_TRUE(concurrency.get().ok());
  // Only max_queued given: the concurrency stays.
  Answer<v1::QueueStats> queued;
  api_->SetQueueLimits("new", {.max_queued = 10}, queued.done());
  ASSERT_TRUE(queued.get().ok());
  Answer<v1::QueueStats> stats;
  api_->ListQueues([&stats](absl::StatusOr<v1::ListQueuesResponse> r) {
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->queues_size(), 1);
    stats.promise.set_value(r->queues(0));
  });
  auto q = stats.get();
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->name(), "new");
  EXPECT_EQ(q->max_concurrency(), 4);
  EXPECT_EQ(q->max_queued(), 10);
  EXPECT_TRUE(q->paused());
}

TEST_F(CoreApiTest, StatsAndFiguresCountTheJobsByQueue) {
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(Submit(Spec("s", "remote-kind")).ok());
  Answer<v1::GetStatsResponse> stats;
  api_->GetStats(stats.done());
  auto s = stats.get();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->jobs_held(), 3u);
  EXPECT_EQ(s->storage(), "memory");
  EXPECT_EQ(s->total().ready(), 3u);
  Answer<CoreFigures> figures;
  api_->Figures(figures.done());
  auto f = figures.get();
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->queues.size(), 1u);
  EXPECT_EQ(f->queues[0].name, "s");
  EXPECT_EQ(f->queues[0].submitted_total, 3u);
}

TEST_F(CoreApiTest, OnceTheCoreHasStoppedEveryCommandIsAnsweredUnavailable) {
  loop_->Stop();
  EXPECT_EQ(Submit(Spec()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Get(1).status().code(), absl::StatusCode::kUnavailable);
  Answer<v1::GetStatsResponse> stats;
  api_->GetStats(stats.done());
  EXPECT_EQ(stats.get().status().code(), absl::StatusCode::kUnavailable);
  auto opened = std::make_shared<RecordingStream>();
  EXPECT_FALSE(api_->OpenStream(std::make_shared<Watcher>(opened)));
  EXPECT_EQ(opened->WaitClosed().error_code(), grpc::StatusCode::UNAVAILABLE);
  auto submitted = std::make_shared<RecordingStream>();
  api_->SubmitAndWatch(std::make_shared<Watcher>(submitted), Spec(),
                       events::kAllStates);
  EXPECT_EQ(submitted->WaitClosed().error_code(),
            grpc::StatusCode::UNAVAILABLE);
  auto stream = std::make_shared<RecordingStream>();
  WatchSpec spec;
  spec.queue = "q";
  api_->Watch(std::make_shared<Watcher>(stream), spec);
  EXPECT_EQ(stream->WaitClosed().error_code(), grpc::StatusCode::UNAVAILABLE);
}

// ---- The lifecycle of finished jobs, and rate limits. ----

// Ends the runs of `seqs` (attempt 1) on the core, ordered with the
// commands posted after it (results have a channel of their own).
void EndRuns(CoreLoop* loop, const std::vector<uint64_t>& seqs, bool success) {
  loop->Post([seqs, success](CoreContext& core) {
    for (uint64_t seq : seqs) {
      core.scheduler.Finish({seq, 1, success, "", success ? "" : "boom", 0},
                            core.now);
    }
  });
}

TEST_F(CoreApiTest, ADeadJobIsRetriedAndAFinishedOneDeleted) {
  auto seq = Submit(Spec());
  ASSERT_TRUE(seq.ok());
  dispatcher_.WaitStarted(1);
  Answer<v1::Job> early;
  api_->RetryJob(*seq, nullptr, early.done());
  EXPECT_EQ(early.get().status().code(), absl::StatusCode::kFailedPrecondition);
  EndRuns(loop_.get(), {*seq}, false);
  Answer<v1::Job> retry;
  api_->RetryJob(*seq, nullptr, retry.done());
  auto job = retry.get();
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_READY);
  EXPECT_EQ(job->attempt(), 0);
  dispatcher_.WaitStarted(2);  // It runs again.
  Answer<v1::DeleteJobResponse> running;
  api_->DeleteJob(*seq, nullptr, running.done());
  EXPECT_EQ(running.get().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EndRuns(loop_.get(), {*seq}, true);
  Answer<v1::DeleteJobResponse> del;
  api_->DeleteJob(*seq, nullptr, del.done());
  ASSERT_TRUE(del.get().ok());
  EXPECT_EQ(Get(*seq).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoreApiTest, RetryAndDeleteAskTheQueueCheck) {
  auto seq = Submit(Spec("secret", "remote-kind"));
  ASSERT_TRUE(seq.ok());
  auto deny = [](const std::string&, absl::string_view) {
    return absl::PermissionDeniedError("no");
  };
  Answer<v1::Job> retry;
  api_->RetryJob(*seq, deny, retry.done());
  EXPECT_EQ(retry.get().status().code(), absl::StatusCode::kPermissionDenied);
  Answer<v1::DeleteJobResponse> del;
  api_->DeleteJob(*seq, deny, del.done());
  EXPECT_EQ(del.get().status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(CoreApiTest, RetryDeadAndPurgeCoverMoreThanOneStep) {
  // Cancelled remote jobs; purge them, then a larger set by RetryDead.
  const size_t n = CoreApi::kLifecycleChunk * 2 + 10;
  std::vector<v1::JobSpec> specs(n, Spec("bulk", "remote-kind"));
  std::promise<void> submitted;
  api_->Submit(std::move(specs), [&](const absl::Status& s,
                                     const std::vector<core::SubmitOutcome>&) {
    EXPECT_TRUE(s.ok());
    submitted.set_value();
  });
  submitted.get_future().get();
  Answer<uint64_t> none;
  api_->RetryDead("bulk", 0, none.done());
  EXPECT_EQ(*none.get(), 0u);
  Answer<uint64_t> purge;
  api_->PurgeQueue("bulk", 1u << v1::JOB_STATE_READY, purge.done());
  auto purged = purge.get();
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, n);
  Answer<uint64_t> unknown;
  api_->PurgeQueue("nosuch", 1u << v1::JOB_STATE_DEAD, unknown.done());
  EXPECT_EQ(unknown.get().status().code(), absl::StatusCode::kNotFound);
  Answer<v1::GetStatsResponse> stats;
  api_->GetStats(stats.done());
  auto s = stats.get();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->jobs_held(), 0u);
}

TEST_F(CoreApiTest, RetryDeadRunsTheQueuesDeadJobsUpToItsLimit) {
  const size_t n = CoreApi::kLifecycleChunk + 5;
  std::vector<v1::JobSpec> specs(n, Spec("d"));
  std::vector<uint64_t> seqs;
  std::promise<void> submitted;
  api_->Submit(
      std::move(specs),
      [&](const absl::Status& s, const std::vector<core::SubmitOutcome>& out) {
        for (const auto& o : out) seqs.push_back(o.seq);
        submitted.set_value();
      });
  submitted.get_future().get();
  dispatcher_.WaitStarted(n);
  EndRuns(loop_.get(), seqs, false);
  Answer<uint64_t> some;
  api_->RetryDead("d", 3, some.done());
  EXPECT_EQ(*some.get(), 3u);
  Answer<uint64_t> rest;
  api_->RetryDead("d", 0, rest.done());
  EXPECT_EQ(*rest.get(), n - 3);
  dispatcher_.WaitStarted(2 * n);  // Every one ran again.
  Answer<v1::GetStatsResponse> stats;
  api_->GetStats(stats.done());
  EXPECT_EQ(stats.get()->total().dead(), 0u);
}

TEST_F(CoreApiTest, ARateLimitedQueueStartsItsJobsWithoutAnotherRequest) {
  Answer<v1::QueueStats> pause;
  api_->PauseQueue("r", true, pause.done());
  ASSERT_TRUE(pause.get().ok());
  Answer<v1::QueueStats> limit;
  api_->SetQueueLimits("r", {.rate = 50.0, .burst = 1}, limit.done());
  auto limited = limit.get();
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->rate(), 50.0);
  EXPECT_EQ(limited->burst(), 1);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Submit(Spec("r")).ok());
  Answer<v1::QueueStats> resume;
  api_->PauseQueue("r", false, resume.done());
  ASSERT_TRUE(resume.get().ok());
  // One at once, the other three as tokens come: only the core's timer
  // can start them, as nothing else is asked of it.
  dispatcher_.WaitStarted(4);
  Answer<v1::GetStatsResponse> stats;
  api_->GetStats(stats.done());
  EXPECT_EQ(stats.get()->total().ready(), 0u);
}

}  // namespace
}  // namespace jobq::engine
