#include "core/job_list.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/scheduler.h"

namespace jobq::core {
namespace {

constexpr TimeUs kT0 = 1'700'000'000 * kSecond;
constexpr size_t kNoLimit = ~size_t{0};
const v1::JobState kStates[] = {
    v1::JOB_STATE_UNSPECIFIED, v1::JOB_STATE_SCHEDULED, v1::JOB_STATE_READY,
    v1::JOB_STATE_RUNNING,     v1::JOB_STATE_SUCCEEDED, v1::JOB_STATE_FAILED,
    v1::JOB_STATE_DEAD,        v1::JOB_STATE_CANCELLED};

struct Log : TransitionLog {
  void Append(const wal::v1::Transition& t) override { records.push_back(t); }
  std::vector<wal::v1::Transition> records;
};

// What a page must hold: the brute-force filter over every job held.
struct Expected {
  std::vector<uint64_t> ids;
  bool more = false;
};
Expected BruteForce(const Scheduler& s, const JobFilter& f, uint64_t after,
                    size_t limit) {
  Expected out;
  for (const Job& job : s.jobs()) {
    if (job.seq <= after || !f.Matches(job)) continue;
    if (out.ids.size() == limit) {
      out.more = true;
      break;
    }
    out.ids.push_back(job.seq);
  }
  return out;
}

std::vector<uint64_t> Ids(const JobPage& page) {
  std::vector<uint64_t> ids;
  for (const Job* job : page.jobs) ids.push_back(job->seq);
  return ids;
}

// Every job is in exactly the (queue, state) set of its queue and state,
// and the counts by state are the sizes of those sets.
void ExpectIndexExact(const Scheduler& s) {
  size_t indexed = 0;
  for (const auto& [name, q] : s.queues()) {
    for (size_t state = 0; state < q.ids.size(); ++state) {
      EXPECT_EQ(q.ids[state].size(), q.by_state[state])
          << name << " state " << state;
      for (uint64_t seq : q.ids[state]) {
        const Job* job = s.Find(seq);
        ASSERT_NE(job, nullptr) << seq;
        EXPECT_EQ(job->queue(), name);
        EXPECT_EQ(static_cast<size_t>(v1::JobState(job->state)), state);
      }
      indexed += q.ids[state].size();
    }
  }
  EXPECT_EQ(indexed, s.jobs().size());
}

v1::JobSpec RandomSpec(std::mt19937& rng) {
  v1::JobSpec spec;
  spec.set_queue(std::string(1, static_cast<char>('a' + rng() % 3)));
  spec.set_kind(rng() % 4 == 0 ? "remote" : "noop");
  spec.set_priority(static_cast<int32_t>(rng() % 3));
  if (rng() % 4 == 0) spec.mutable_delay()->set_nanos(300'000'000);
  if (rng() % 3 == 0) {
    (*spec.mutable_labels())["color"] = rng() % 2 ? "red" : "blue";
  }
  if (rng() % 5 == 0) (*spec.mutable_labels())["team"] = "x";
  spec.mutable_retry()->set_max_attempts(2);
  return spec;
}

JobFilter RandomFilter(std::mt19937& rng) {
  JobFilter f;
  if (rng() % 3 != 0)
    f.queue = std::string(1, static_cast<char>('a' + rng() % 4));
  f.state = kStates[rng() % 8];
  if (rng() % 3 == 0) f.labels["color"] = rng() % 2 ? "red" : "blue";
  if (rng() % 5 == 0) f.labels["team"] = "x";
  return f;
}

// Every ListPage of random filters, tokens and limits equals the brute
// force, and so does a listing resumed after every budget's end.
void ExpectPagesMatch(const Scheduler& s, std::mt19937& rng, int rounds) {
  std::vector<uint64_t> all;
  for (const Job& job : s.jobs()) all.push_back(job.seq);
  for (int i = 0; i < rounds; ++i) {
    JobFilter f = RandomFilter(rng);
    uint64_t after =
        all.empty() || rng() % 3 == 0 ? 0 : all[rng() % all.size()];
    size_t limit = 1 + rng() % 20;
    Expected want = BruteForce(s, f, after, limit);
    JobPage page = s.ListPage(f, after, limit, kNoLimit);
    ASSERT_FALSE(page.resume_after.has_value());
    EXPECT_EQ(Ids(page), want.ids);
    EXPECT_EQ(page.more, want.more);

    JobListing listing(f, after, limit);
    ListedJobs listed;
    size_t budget = 1 + rng() % 7;
    int steps = 0;
    while (!listing.Step(s, &listed, budget)) ASSERT_LT(++steps, 100'000);
    v1::ListJobsResponse out;
    listed.ToProto(&out);
    std::vector<uint64_t> got;
    for (const auto& j : out.jobs()) {
      uint64_t seq = 0;
      ASSERT_TRUE(ParseJobId(j.id(), &seq));
      got.push_back(seq);
    }
    EXPECT_EQ(got, want.ids);
    EXPECT_EQ(out.next_page_token(),
              want.more ? FormatJobId(want.ids.back()) : "");
  }
}

TEST(JobListTest, IndexedPagesEqualABruteForceFilterThroughEveryTransition) {
  std::mt19937 rng(11);
  Log log;
  SchedulerOptions options;
  options.random = [] { return 0.0; };
  options.max_finished = 40;  // Forget removes finished jobs as they pile up.
  options.is_local = [](const std::string& kind) { return kind != "remote"; };
  Scheduler s(options, nullptr, &log);
  TimeUs now = kT0;
  std::vector<uint64_t> ids;
  for (int i = 0; i < 600; ++i) {
    now += static_cast<TimeUs>(rng() % 200'000);
    ids.push_back(s.Submit(RandomSpec(rng), now).seq);
    s.Tick(now);
    switch (rng() % 6) {
      case 0:
        s.PauseQueue("b", rng() % 2 == 0);
        break;
      case 1:
        (void)s.Cancel(ids[rng() % ids.size()], now);
        break;
      case 2:
        s.TakeRemote({"remote"}, {}, "w", now, rng() % 3, kSecond);
        break;
      case 3:
        // The remote worker is silent: its leases run out.
        s.ExpireLeases(now,
                       [](const std::string&, uint64_t) { return TimeUs{0}; });
        break;
      default:
        break;
    }
    for (auto& a : s.TakeRunnable(now, rng() % 3)) {
      s.Finish({a.seq, a.attempt, rng() % 3 != 0, "", "e", 0}, now);
    }
    if (i % 50 == 49) {
      ExpectIndexExact(s);
      ExpectPagesMatch(s, rng, 40);
    }
  }
  ASSERT_GT(s.jobs().size(), 0u);
  ASSERT_LT(s.jobs().size(), ids.size());  // Some were forgotten.

  // Replaying the log rebuilds the same indexes.
  Scheduler replica(options, nullptr);
  for (const auto& t : log.records) replica.Apply(t);
  ExpectIndexExact(replica);
  ExpectPagesMatch(replica, rng, 100);

  // So does a compacted log (a snapshot of every job), and snapshots
  // applied again over jobs already held (compaction over an old segment).
  Scheduler compacted(options, nullptr);
  for (int pass = 0; pass < 2; ++pass) {
    for (const Job& job : s.jobs()) {
      wal::v1::Transition t;
      s.Snapshot(job, t.mutable_snapshot());
      compacted.Apply(t);
    }
  }
  ExpectIndexExact(compacted);
  ExpectPagesMatch(compacted, rng, 100);
  for (const auto& [name, q] : s.queues()) {
    EXPECT_EQ(compacted.FindQueue(name)->ids, q.ids) << name;
  }
}

class ListBudgetTest : public ::testing::Test {
 protected:
  // 100 READY jobs of `q`; every 25th carries label tag=x.
  void SetUp() override {
    v1::JobSpec spec;
    spec.set_queue("q");
    spec.set_kind("noop");
    for (int i = 0; i < 100; ++i) {
      spec.clear_labels();
      if (i % 25 == 24) (*spec.mutable_labels())["tag"] = "x";
      ids_.push_back(s_.Submit(spec, kT0 + i).seq);
    }
    filter_.queue = "q";
    filter_.labels["tag"] = "x";
  }
  Scheduler s_{SchedulerOptions{}, nullptr};
  std::vector<uint64_t> ids_;
  JobFilter filter_;
};

TEST_F(ListBudgetTest,
       AListingLooksAtNoMoreJobsThanItsBudgetAndSaysWhereToResume) {
  JobPage page = s_.ListPage(filter_, 0, 10, 10);
  EXPECT_TRUE(page.jobs.empty());
  ASSERT_TRUE(page.resume_after.has_value());
  EXPECT_EQ(*page.resume_after, ids_[9]);  // Ten jobs looked at.

  page = s_.ListPage(filter_, ids_[9], 10, 20);
  ASSERT_EQ(page.jobs.size(), 1u);
  EXPECT_EQ(page.jobs[0]->seq, ids_[24]);
  EXPECT_EQ(*page.resume_after, ids_[29]);

  // A budget of 0 still makes progress.
  page = s_.ListPage(filter_, ids_[29], 10, 0);
  EXPECT_EQ(*page.resume_after, ids_[30]);
}

TEST_F(ListBudgetTest, WithoutLabelsAStateFilterVisitsOnlyItsOwnSet) {
  // 90 of the 100 run; the 10 still READY are the last ones.
  s_.TakeRunnable(kT0 + kSecond, 90);
  JobFilter ready;
  ready.queue = "q";
  ready.state = v1::JOB_STATE_READY;
  JobPage page = s_.ListPage(ready, 0, 10, 11);
  EXPECT_FALSE(page.resume_after.has_value());
  ASSERT_EQ(page.jobs.size(), 10u);
  EXPECT_EQ(page.jobs.front()->seq, ids_[90]);
  EXPECT_FALSE(page.more);
}

TEST_F(ListBudgetTest, AResumedListingEndsWithTheSinglePassPageAndToken) {
  // A page of one: the second match only decides the token.
  JobListing listing(filter_, 0, 1);
  ListedJobs listed;
  int steps = 1;
  while (!listing.Step(s_, &listed, 10)) ++steps;
  v1::ListJobsResponse out;
  listed.ToProto(&out);
  ASSERT_EQ(out.jobs_size(), 1);
  EXPECT_EQ(out.jobs(0).id(), FormatJobId(ids_[24]));
  EXPECT_EQ(out.next_page_token(), FormatJobId(ids_[24]));
  EXPECT_EQ(steps, 5);  // The 50th job is the second match.

  // The last page: no token, after every job was looked at.
  JobListing last(filter_, ids_[74], 5);
  listed = ListedJobs();
  steps = 1;
  while (!last.Step(s_, &listed, 10)) ++steps;
  out.Clear();
  listed.ToProto(&out);
  ASSERT_EQ(out.jobs_size(), 1);
  EXPECT_EQ(out.jobs(0).id(), FormatJobId(ids_[99]));
  EXPECT_EQ(out.next_page_token(), "");
  EXPECT_EQ(steps, 3);  // 25 jobs, 10 a step.
}

TEST(JobListTest, ALargePageIsCopiedAShareAStepAndEndsAsOnePass) {
  Scheduler s{SchedulerOptions{}, nullptr};
  v1::JobSpec spec;
  spec.set_queue("q");
  spec.set_kind("noop");
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < 2 * JobListing::kJobsPerStep + 10; ++i) {
    ids.push_back(s.Submit(spec, kT0 + static_cast<TimeUs>(i)).seq);
  }
  JobFilter filter;
  filter.queue = "q";
  // A page one short of all: two full shares, then the rest and the token.
  size_t size = ids.size() - 1;
  JobListing listing(filter, 0, size);
  ListedJobs listed;
  int steps = 1;
  while (!listing.Step(s, &listed)) {
    EXPECT_EQ(listed.jobs.size(), steps * JobListing::kJobsPerStep);
    ++steps;
  }
  EXPECT_EQ(steps, 3);
  v1::ListJobsResponse out;
  listed.ToProto(&out);
  ASSERT_EQ(static_cast<size_t>(out.jobs_size()), size);
  for (size_t i = 0; i < size; ++i) {
    EXPECT_EQ(out.jobs(static_cast<int>(i)).id(), FormatJobId(ids[i]));
  }
  EXPECT_EQ(out.next_page_token(), FormatJobId(ids[size - 1]));
}

TEST(JobListTest, UnfinishedJobsOfAQueueComeInIdOrderForTheStatesAsked) {
  Scheduler s(SchedulerOptions{}, nullptr);
  v1::JobSpec spec;
  spec.set_kind("noop");
  std::vector<uint64_t> q;
  for (int i = 0; i < 12; ++i) {
    spec.set_queue(i % 3 == 0 ? "other" : "q");
    spec.clear_delay();
    if (i % 4 == 1) spec.mutable_delay()->set_seconds(60);
    uint64_t seq = s.Submit(spec, kT0 + i).seq;
    if (i % 3 != 0) q.push_back(seq);
  }
  // Three start (of both queues), one of them succeeds, and the last of
  // q is cancelled.
  auto run = s.TakeRunnable(kT0 + 20, 3);
  ASSERT_EQ(run.size(), 3u);
  s.Finish({run[1].seq, run[1].attempt, true, "", "", 0}, kT0 + 21);
  ASSERT_TRUE(s.Cancel(q.back(), kT0 + 22).ok());

  auto visit = [&](uint32_t states) {
    std::vector<uint64_t> got;
    s.ForEachUnfinished("q", states, [&](const Job& job) {
      EXPECT_EQ(job.queue(), "q");
      got.push_back(job.seq);
    });
    return got;
  };
  std::vector<uint64_t> want;
  for (uint64_t seq : q) {
    if (!IsTerminal(s.Find(seq)->state)) want.push_back(seq);
  }
  EXPECT_EQ(visit(~uint32_t{0}), want);
  std::vector<uint64_t> scheduled;
  for (uint64_t seq : q) {
    if (s.Find(seq)->state == v1::JOB_STATE_SCHEDULED) scheduled.push_back(seq);
  }
  ASSERT_FALSE(scheduled.empty());
  EXPECT_EQ(visit(1u << v1::JOB_STATE_SCHEDULED), scheduled);
  EXPECT_TRUE(visit(1u << v1::JOB_STATE_SUCCEEDED).empty());
  int calls = 0;
  s.ForEachUnfinished("none", ~uint32_t{0}, [&](const Job&) { ++calls; });
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace jobq::core

namespace jobq::core {
namespace {

// What the API shows of a job in a listing, from the scheduler itself.
std::string Shown(const Scheduler& s, uint64_t seq) {
  v1::Job out;
  s.ToProto(*s.Find(seq), &out, /*with_attempts=*/false);
  return out.SerializeAsString();
}

TEST(ListedJobsTest, ACopiedPageReadsAsTheJobsDidWhenCopiedWhateverFollows) {
  SchedulerOptions options;
  options.is_local = [](const std::string& kind) { return kind != "remote"; };
  Scheduler s{options, nullptr};
  auto spec = [](const std::string& kind, size_t payload) {
    v1::JobSpec j;
    j.set_queue("q");
    j.set_kind(kind);
    j.set_payload(std::string(payload, 'p'));
    return j;
  };
  std::vector<uint64_t> ids;
  ids.push_back(s.Submit(spec("noop", 0), kT0).seq);
  ids.push_back(s.Submit(spec("noop", 64), kT0).seq);
  // Past 64 KiB a payload is stored behind its length.
  ids.push_back(s.Submit(spec("noop", 70'000), kT0).seq);
  v1::JobSpec rich = spec("noop", 10);
  (*rich.mutable_labels())["team"] = "a";
  rich.set_idempotency_key("k1");
  rich.mutable_retry()->set_max_attempts(3);
  rich.mutable_timeout()->set_seconds(9);
  rich.add_depends_on(FormatJobId(ids[0]));
  ids.push_back(s.Submit(rich, kT0).seq);
  ids.push_back(s.Submit(spec("remote", 5), kT0).seq);
  ASSERT_EQ(s.TakeRemote({"remote"}, {}, "w7", kT0 + 1, 1, kSecond).size(), 1u);

  JobFilter filter;
  filter.queue = "q";
  JobListing listing(filter, 0, ids.size());
  ListedJobs listed;
  while (!listing.Step(s, &listed)) {
  }
  std::vector<std::string> shown;
  for (uint64_t seq : ids) shown.push_back(Shown(s, seq));
  ASSERT_EQ(listed.leases.size(), 1u);
  EXPECT_EQ(listed.leases[0].first, 4u);

  // The jobs change, and go, after the copy; the page does not.
  // (The dependent first: cancelling its parent would cancel it too.)
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    ASSERT_TRUE(s.Cancel(*it, kT0 + 2).ok());
  }
  ASSERT_NE(Shown(s, ids[3]), shown[3]);
  for (uint64_t seq : ids) ASSERT_TRUE(s.DeleteJob(seq).ok());
  ASSERT_EQ(s.Find(ids[2]), nullptr);  // Its payload is freed.
  v1::ListJobsResponse out;
  listed.ToProto(&out);
  ASSERT_EQ(out.jobs_size(), static_cast<int>(ids.size()));
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(out.jobs(static_cast<int>(i)).SerializeAsString(), shown[i])
        << "job " << i << ": " << out.jobs(static_cast<int>(i)).DebugString();
  }
  EXPECT_EQ(out.jobs(4).worker(), "w7");
  EXPECT_EQ(out.jobs(2).spec().payload().size(), 70'000u);
  EXPECT_EQ(out.jobs(3).spec().labels().at("team"), "a");
  EXPECT_EQ(out.jobs(3).waiting_for(0), FormatJobId(ids[0]));
  EXPECT_EQ(out.next_page_token(), "");
}

}  // namespace
}  // namespace jobq::core
