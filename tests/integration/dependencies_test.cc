// Jobs that wait for others (JobSpec.depends_on) on the real jobqd: a graph
// through the API and a remote worker, parents by position in a batch,
// cancellation down the graph, command kinds reading JOBQ_PARENTS_DIR, a
// restart, and jobqctl.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/worker.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

using client::Outcome;
using client::Worker;
using client::WorkerJob;
using client::WorkerOptions;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A remote worker on its own thread, stopped and joined at the end.
class WorkerThread {
 public:
  WorkerThread(const std::string& address, std::vector<std::string> kinds,
               Worker::Handler handler) {
    WorkerOptions options;
    options.kinds = std::move(kinds);
    options.concurrency = 64;
    options.threads = 2;
    worker_ = std::make_unique<Worker>(client::MakeChannel(address), options,
                                       std::move(handler));
    thread_ = std::thread([this] { status_ = worker_->Run(); });
  }
  ~WorkerThread() {
    worker_->Stop();
    thread_.join();
  }

 private:
  std::unique_ptr<Worker> worker_;
  std::thread thread_;
  absl::Status status_;
};

v1::JobSpec Step(const std::string& payload) {
  return MakeSpec("step", "graph", payload);
}

// 1,000 parents, 10 children each, and one job on all 10,000 children:
// every child receives its parent's result, the last job all of theirs.
TEST(DependenciesTest, AGraphOfElevenThousandJobsCompletes) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  client::Client& c = jobqd->client();
  WorkerThread worker(
      jobqd->address(), {"step", "final"}, [](WorkerJob& job) -> Outcome {
        if (job.kind() == "final") {
          size_t good = 0;
          for (const auto& p : job.parents()) {
            if (absl::StartsWith(p.result(), "p") &&
                absl::EndsWith(p.result(), ">c")) {
              ++good;
            }
          }
          return Outcome::Success(
              absl::StrCat(job.parents().size(), " parents, ", good, " good"));
        }
        if (job.parents().empty()) {
          return Outcome::Success("p" + job.payload());
        }
        if (job.parents().size() != 1) {
          return Outcome::Failure("one parent expected");
        }
        return Outcome::Success(job.parents()[0].result() + ">c");
      });

  std::vector<v1::JobSpec> parents;
  for (int i = 0; i < 1000; ++i) parents.push_back(Step(absl::StrCat(i)));
  auto p = c.SubmitBatch(parents);
  ASSERT_TRUE(p.ok()) << p.status();
  v1::JobSpec final_spec = MakeSpec("final", "graph");
  for (int half = 0; half < 2; ++half) {
    std::vector<v1::JobSpec> children;
    for (int i = half * 500; i < (half + 1) * 500; ++i) {
      for (int k = 0; k < 10; ++k) {
        v1::JobSpec child = Step("");
        child.add_depends_on(p->results(i).job_id());
        children.push_back(std::move(child));
      }
    }
    auto r = c.SubmitBatch(children);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& result : r->results()) {
      ASSERT_EQ(result.code(), 0) << result.message();
      final_spec.add_depends_on(result.job_id());
    }
  }
  auto last = c.Submit(final_spec);
  ASSERT_TRUE(last.ok()) << last.status();
  v1::JobEvent end = WaitForEnd(c, last->job_id());
  EXPECT_EQ(end.state(), v1::JOB_STATE_SUCCEEDED) << end.error();
  EXPECT_EQ(end.result(), "10000 parents, 10000 good");
  auto stats = c.GetStats();
  ASSERT_TRUE(stats.ok());
  for (const auto& q : stats->queues()) {
    if (q.name() == "graph") EXPECT_EQ(q.succeeded(), 11'001u);
  }
}

TEST(DependenciesTest, ABatchNamesItsParentsByPosition) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  client::Client& c = jobqd->client();
  std::vector<v1::JobSpec> batch = {Step("a"), Step("b"), Step("c")};
  // The batch's completion callback: it depends on all of the batch.
  v1::JobSpec done = MakeSpec("final", "graph");
  for (int i : {0, 1, 2}) done.add_depends_on_index(i);
  batch.push_back(done);
  batch.push_back(MakeSpec("", "graph"));  // 4: refused (no kind).
  v1::JobSpec orphan = Step("");
  orphan.add_depends_on_index(4);
  batch.push_back(orphan);  // 5: its parent was refused.
  v1::JobSpec forward = Step("");
  forward.add_depends_on_index(7);
  batch.push_back(forward);  // 6: names a later job.
  batch.push_back(Step("d"));
  auto r = c.SubmitBatch(batch);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->results(3).code(), 0) << r->results(3).message();
  EXPECT_EQ(r->results(4).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r->results(5).code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(r->results(5).message(),
              HasSubstr("jobs[5].depends_on_index[0]: jobs[4] was refused"));
  EXPECT_EQ(r->results(6).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r->results(6).message(), HasSubstr("jobs[6].depends_on_index"));
  EXPECT_EQ(r->results(7).code(), 0);

  auto waiting = c.GetJob(r->results(3).job_id());
  ASSERT_TRUE(waiting.ok());
  EXPECT_EQ(waiting->state(), v1::JOB_STATE_WAITING);
  EXPECT_THAT(waiting->spec().depends_on(),
              ElementsAre(r->results(0).job_id(), r->results(1).job_id(),
                          r->results(2).job_id()));
  EXPECT_EQ(waiting->waiting_for_size(), 3);

  WorkerThread worker(
      jobqd->address(), {"step", "final"}, [](WorkerJob& job) -> Outcome {
        std::string out;
        for (const auto& p : job.parents()) {
          out += p.result();
        }
        return Outcome::Success(job.kind() == "final" ? out : job.payload());
      });
  v1::JobEvent end = WaitForEnd(c, r->results(3).job_id());
  EXPECT_EQ(end.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(end.result(), "abc");
}

TEST(DependenciesTest, BadParentsAreRefusedNamingTheField) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  client::Client& c = jobqd->client();
  v1::JobSpec spec = Step("");
  spec.add_depends_on("not-an-id");
  auto r = c.Submit(spec);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("job.depends_on[0]"));

  spec.set_depends_on(0, "00000000000000ff");
  r = c.Submit(spec);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(),
              HasSubstr("job.depends_on[0]: job 00000000000000ff not found"));

  auto parent = c.Submit(Step(""));
  ASSERT_TRUE(parent.ok());
  spec.set_depends_on(0, parent->job_id());
  spec.add_depends_on(parent->job_id());
  r = c.Submit(spec);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("named twice"));

  v1::JobSpec by_index = Step("");
  by_index.add_depends_on_index(0);
  r = c.Submit(by_index);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("job.depends_on_index"));

  ASSERT_TRUE(c.CancelJob(parent->job_id()).ok());
  spec.mutable_depends_on()->RemoveLast();
  r = c.Submit(spec);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("ended CANCELLED"));
}

TEST(DependenciesTest, CancellingAParentCancelsWhatWaitsForIt) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  client::Client& c = jobqd->client();
  auto parent = c.Submit(Step(""));  // No worker takes "step" here.
  ASSERT_TRUE(parent.ok());
  v1::JobSpec spec = Step("");
  spec.add_depends_on(parent->job_id());
  auto child = c.Submit(spec);
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(c.CancelJob(parent->job_id()).ok());
  auto job = c.GetJob(child->job_id());
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(job->error(),
            absl::StrCat("parent job ", parent->job_id(), " ended CANCELLED"));
}

TEST(DependenciesTest, ACommandReadsItsParentsResultsFromFiles) {
  auto jobqd = JobqdProcess::Start({}, R"(
commands:
  echo:
    argv: ["/bin/cat"]
  gather:
    argv: ["/bin/sh", "-c", "echo \"$JOBQ_PARENTS_DIR\"; cd \"$JOBQ_PARENTS_DIR\" && for f in *; do echo \"$f=$(cat $f)\"; done"]
)");
  ASSERT_NE(jobqd, nullptr);
  client::Client& c = jobqd->client();
  auto one = c.Submit(MakeSpec("echo", "", "one"));
  auto two = c.Submit(MakeSpec("echo", "", "two"));
  ASSERT_TRUE(one.ok() && two.ok());
  v1::JobSpec spec = MakeSpec("gather");
  spec.add_depends_on(two->job_id());
  spec.add_depends_on(one->job_id());
  auto child = c.Submit(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  v1::JobEvent end = WaitForEnd(c, child->job_id());
  ASSERT_EQ(end.state(), v1::JOB_STATE_SUCCEEDED) << end.error();
  std::vector<std::string> lines =
      absl::StrSplit(end.result(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << end.result();
  EXPECT_THAT(lines[0], HasSubstr("jobq-parents-"));
  EXPECT_EQ(lines[1], one->job_id() + "=one");
  EXPECT_EQ(lines[2], two->job_id() + "=two");
  // Removed with the run.
  struct stat st;
  EXPECT_NE(::stat(lines[0].c_str(), &st), 0) << lines[0] << " still exists";
}

TEST(DependenciesTest, WaitingJobsAndTheirParentsResultsSurviveARestart) {
  const std::string dir = TempPath("data");
  auto jobqd = JobqdProcess::Start({"--data-dir", dir});
  ASSERT_NE(jobqd, nullptr);
  std::string first, second, child;
  {
    WorkerThread worker(jobqd->address(), {"step"}, [](WorkerJob& job) {
      return Outcome::Success("result of " + job.payload());
    });
    auto a = jobqd->client().Submit(Step("first"));
    ASSERT_TRUE(a.ok());
    first = a->job_id();
    ASSERT_EQ(WaitForEnd(jobqd->client(), first).state(),
              v1::JOB_STATE_SUCCEEDED);
  }
  auto b = jobqd->client().Submit(MakeSpec("later", "graph", "second"));
  ASSERT_TRUE(b.ok());
  second = b->job_id();
  v1::JobSpec spec = MakeSpec("final", "graph");
  spec.add_depends_on(first);
  spec.add_depends_on(second);
  auto c = jobqd->client().Submit(spec);
  ASSERT_TRUE(c.ok());
  child = c->job_id();

  EXPECT_EQ(jobqd->Stop(SIGKILL), 128 + SIGKILL);
  jobqd = JobqdProcess::Start({"--data-dir", dir});
  ASSERT_NE(jobqd, nullptr);
  auto job = jobqd->client().GetJob(child);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_WAITING);
  EXPECT_THAT(job->waiting_for(), ElementsAre(second));

  WorkerThread worker(jobqd->address(), {"later", "final"}, [](WorkerJob& job) {
    if (job.kind() == "later") {
      return Outcome::Success("result of " + job.payload());
    }
    std::string out;
    for (const auto& p : job.parents()) {
      out += p.result() + ";";
    }
    return Outcome::Success(out);
  });
  v1::JobEvent end = WaitForEnd(jobqd->client(), child);
  EXPECT_EQ(end.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(end.result(), "result of first;result of second;");
}

TEST(DependenciesTest, JobqctlSubmitsAfterAJobAndShowsWhatItWaitsFor) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  CommandRun parent = jobqd->Ctl("submit -k step -q graph");
  ASSERT_EQ(parent.exit_code, 0) << parent.out;
  std::string parent_id(absl::StripAsciiWhitespace(parent.out));
  CommandRun child = jobqd->Ctl("submit -k step -q graph --after " + parent_id);
  ASSERT_EQ(child.exit_code, 0) << child.out;
  std::string child_id(absl::StripAsciiWhitespace(child.out));
  CommandRun got = jobqd->Ctl("get " + child_id);
  EXPECT_THAT(got.out, HasSubstr("state:       WAITING"));
  EXPECT_THAT(got.out, HasSubstr("depends_on:  " + parent_id));
  EXPECT_THAT(got.out, HasSubstr("waiting_for: " + parent_id));
  CommandRun listed = jobqd->Ctl("list --state waiting");
  EXPECT_THAT(listed.out, HasSubstr(child_id));
  EXPECT_THAT(listed.out, ::testing::Not(HasSubstr(parent_id)));
  CommandRun bad = jobqd->Ctl("submit -k step --after 00000000000000ff");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.out,
              HasSubstr("depends_on[0]: job 00000000000000ff not found"));
  ASSERT_EQ(jobqd->Ctl("cancel " + parent_id).exit_code, 0);
  EXPECT_THAT(jobqd->Ctl("get " + child_id).out,
              HasSubstr("state:       CANCELLED"));
}

}  // namespace
}  // namespace jobq::testing
