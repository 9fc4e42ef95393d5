// The dashboard's JSON API (/api/v1/ on the HTTP listener) against the
// real jobqd with tokens: the same roles as gRPC, bad input answered 400
// naming the field, unknown jobs 404, a job in the wrong state 409, and
// the answers and effects the same as gRPC's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>

#include "client/schedules.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

using ::testing::HasSubstr;

std::string Entry(const std::string& name, const std::string& roles,
                  const std::string& extra = "") {
  CommandRun hash = RunCommand("printf %s " + name + "-secret | sha256sum");
  return "  - name: " + name + "\n    sha256: " + hash.out.substr(0, 64) +
         "\n    roles: [" + roles + "]\n" + extra;
}

struct Answer {
  int status = 0;
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  httplib::Headers headers;
};

class DashboardApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string path = TempPath("tokens.yaml");
    std::ofstream(path) << "tokens:\n"
                        << Entry("ops", "submit, read, admin")
                        << Entry("reader", "read")
                        << Entry("billing-reader", "read",
                                 "    queues: [billing]\n")
                        << Entry("producer", "submit")
                        << Entry("billing-admin", "admin",
                                 "    queues: [billing]\n");
    jobqd_ = JobqdProcess::Start({"--auth-tokens", path});
    ASSERT_NE(jobqd_, nullptr);
    auto channel = client::MakeChannel(jobqd_->address(), {}, "ops-secret");
    ASSERT_TRUE(channel.ok());
    ops_ = std::make_unique<client::Client>(*channel);
  }

  Answer Call(const std::string& method, const std::string& path,
              const std::string& token, const std::string& body = "") {
    httplib::Client http("127.0.0.1", jobqd_->http_port());
    http.set_url_encode(false);  // The paths here are encoded already.
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    auto res = method == "GET"
                   ? http.Get(path.c_str(), headers)
                   : http.Post(path.c_str(), headers, body, "application/json");
    Answer a;
    if (!res) return a;
    a.status = res->status;
    a.body = res->body;
    a.headers = res->headers;
    return a;
  }
  Answer Get(const std::string& path, const std::string& token = "ops-secret") {
    return Call("GET", path, token);
  }
  Answer Post(const std::string& path, const std::string& token = "ops-secret",
              const std::string& body = "") {
    return Call("POST", path, token, body);
  }

  std::string Submit(const std::string& queue, const std::string& kind = "noop",
                     const std::string& payload = "") {
    auto r = ops_->Submit(MakeSpec(kind, queue, payload));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job_id() : "";
  }

  std::unique_ptr<JobqdProcess> jobqd_;
  std::unique_ptr<client::Client> ops_;
};

TEST_F(DashboardApiTest, WithoutATokenTheApiAnswers401AndThePageIsServed) {
  Answer a = Get("/api/v1/stats", "");
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.header("WWW-Authenticate"), "Bearer");
  EXPECT_THAT(a.body, HasSubstr("\"code\":\"UNAUTHENTICATED\""));
  EXPECT_EQ(Get("/api/v1/stats", "wrong-secret").status, 401);
  // whoami tells the page to ask for a token, without a 401.
  Answer who = Get("/api/v1/whoami", "");
  EXPECT_EQ(who.status, 200);
  EXPECT_THAT(who.body, HasSubstr("\"authenticated\":false"));
  // The page itself holds no data: it is served to anyone.
  Answer page = Get("/", "");
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.header("Content-Type"), HasSubstr("text/html"));
  EXPECT_THAT(page.header("Content-Security-Policy"),
              HasSubstr("script-src 'self';"));
  EXPECT_EQ(page.header("Cache-Control"), "no-cache");
  EXPECT_EQ(a.header("Cache-Control"), "no-store");
  Answer script = Get("/app.js", "");
  EXPECT_EQ(script.status, 200);
  EXPECT_THAT(script.header("Content-Type"), HasSubstr("text/javascript"));
  Answer chart = Get("/lib/dygraph.min.js", "");
  EXPECT_EQ(chart.status, 200);
  EXPECT_THAT(chart.body, HasSubstr("Dygraph"));
  EXPECT_EQ(Get("/nothing.js", "").status, 404);
}

TEST_F(DashboardApiTest, AReadTokenReadsButMayNotAct) {
  std::string id = Submit("emails");
  EXPECT_EQ(Get("/api/v1/stats", "reader-secret").status, 200);
  EXPECT_EQ(Get("/api/v1/jobs/" + id, "reader-secret").status, 200);
  EXPECT_EQ(Get("/api/v1/queues/emails/jobs", "reader-secret").status, 200);
  Answer who = Get("/api/v1/whoami", "reader-secret");
  EXPECT_THAT(who.body, HasSubstr("\"admin\":false"));
  EXPECT_THAT(who.body, HasSubstr("\"read\":true"));
  Answer pause = Post("/api/v1/queues/emails/pause", "reader-secret");
  EXPECT_EQ(pause.status, 403);
  EXPECT_THAT(pause.body, HasSubstr("PERMISSION_DENIED"));
  EXPECT_EQ(Post("/api/v1/jobs/" + id + "/cancel", "reader-secret").status,
            403);
  // A producer may not read the dashboard.
  EXPECT_EQ(Get("/api/v1/stats", "producer-secret").status, 403);
}

TEST_F(DashboardApiTest, ATokenOfSomeQueuesSeesOnlyThose) {
  Submit("billing");
  Submit("emails");
  Answer stats = Get("/api/v1/stats", "billing-reader-secret");
  ASSERT_EQ(stats.status, 200);
  EXPECT_THAT(stats.body, HasSubstr("\"name\":\"billing\""));
  EXPECT_EQ(stats.body.find("\"name\":\"emails\""), std::string::npos);
  // Its totals count its queues only.
  EXPECT_EQ(stats.body.find("\"submitted_total\":\"2\""), std::string::npos);
  EXPECT_THAT(stats.body, HasSubstr("\"submitted_total\":\"1\""));
  EXPECT_THAT(Get("/api/v1/stats").body,
              HasSubstr("\"submitted_total\":\"2\""));
  Answer other = Get("/api/v1/queues/emails/jobs", "billing-reader-secret");
  EXPECT_EQ(other.status, 403);
  EXPECT_THAT(other.body, HasSubstr("\"field\":\"queue\""));
}

TEST_F(DashboardApiTest, PauseResumeAndLimitsChangeTheQueueAsGrpcSees) {
  Submit("emails");
  Answer pause = Post("/api/v1/queues/emails/pause");
  ASSERT_EQ(pause.status, 200) << pause.body;
  EXPECT_THAT(pause.body, HasSubstr("\"paused\":true"));
  auto queues = ops_->ListQueues();
  ASSERT_TRUE(queues.ok());
  ASSERT_EQ(queues->queues_size(), 1);
  EXPECT_TRUE(queues->queues(0).paused());
  ASSERT_EQ(Post("/api/v1/queues/emails/resume").status, 200);
  Answer limits = Post("/api/v1/queues/emails/limits", "ops-secret",
                       R"({"max_concurrency": 3, "max_queued": 10})");
  ASSERT_EQ(limits.status, 200) << limits.body;
  queues = ops_->ListQueues();
  ASSERT_TRUE(queues.ok());
  EXPECT_FALSE(queues->queues(0).paused());
  EXPECT_EQ(queues->queues(0).max_concurrency(), 3);
  EXPECT_EQ(queues->queues(0).max_queued(), 10);
}

TEST_F(DashboardApiTest, RateAndBurstAreSetAndAnAbsentLimitChangesNothing) {
  Submit("emails");
  ASSERT_EQ(Post("/api/v1/queues/emails/limits", "ops-secret",
                 R"({"max_concurrency": 3})")
                .status,
            200);
  Answer limits = Post("/api/v1/queues/emails/limits", "ops-secret",
                       R"({"rate": 50, "burst": 5})");
  ASSERT_EQ(limits.status, 200) << limits.body;
  auto stats = ops_->GetStats();
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->queues_size(), 1);
  EXPECT_EQ(stats->queues(0).rate(), 50);
  EXPECT_EQ(stats->queues(0).burst(), 5);
  EXPECT_EQ(stats->queues(0).max_concurrency(), 3);  // Left alone.
}

TEST_F(DashboardApiTest, SchedulesAreListedPausedResumedAndTriggered) {
  client::ScheduleClient schedules(ops_.get());
  v1::Schedule def;
  def.set_name("nightly");
  def.set_spec("0 3 * * *");
  def.set_time_zone("Europe/Berlin");
  *def.mutable_job() = MakeSpec("noop", "reports");
  ASSERT_TRUE(schedules.Create(def).ok());
  def.set_name("billing-run");
  *def.mutable_job() = MakeSpec("noop", "billing");
  ASSERT_TRUE(schedules.Create(def).ok());

  Answer list = Get("/api/v1/schedules", "reader-secret");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_THAT(list.body, HasSubstr("\"name\":\"nightly\""));
  EXPECT_THAT(list.body, HasSubstr("\"time_zone\":\"Europe/Berlin\""));
  EXPECT_THAT(list.body, HasSubstr("\"next_run\""));
  // A token of some queues sees the schedules of those only.
  Answer billing = Get("/api/v1/schedules", "billing-reader-secret");
  ASSERT_EQ(billing.status, 200);
  EXPECT_THAT(billing.body, HasSubstr("billing-run"));
  EXPECT_EQ(billing.body.find("nightly"), std::string::npos);

  // Acting takes the admin role, of the schedule's queue.
  EXPECT_EQ(Post("/api/v1/schedules/nightly/pause", "reader-secret").status,
            403);
  EXPECT_EQ(
      Post("/api/v1/schedules/nightly/pause", "billing-admin-secret").status,
      403);
  Answer pause = Post("/api/v1/schedules/nightly/pause");
  ASSERT_EQ(pause.status, 200) << pause.body;
  EXPECT_THAT(pause.body, HasSubstr("\"paused\":true"));
  auto got = schedules.Get("nightly");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->paused());
  ASSERT_EQ(Post("/api/v1/schedules/nightly/resume").status, 200);
  got = schedules.Get("nightly");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->paused());

  Answer trigger = Post("/api/v1/schedules/nightly/trigger");
  ASSERT_EQ(trigger.status, 200) << trigger.body;
  got = schedules.Get("nightly");
  ASSERT_TRUE(got.ok());
  ASSERT_FALSE(got->last_job_id().empty());
  EXPECT_THAT(trigger.body, HasSubstr(got->last_job_id()));
  auto job = ops_->GetJob(got->last_job_id());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->spec().queue(), "reports");

  EXPECT_EQ(Post("/api/v1/schedules/nobody/trigger").status, 404);
  Answer bad = Post("/api/v1/schedules/Bad%20Name/trigger");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("\"field\":\"name\""));
  EXPECT_EQ(Post("/api/v1/schedules/nightly/explode").status, 404);
}

TEST_F(DashboardApiTest, AJobsAttemptsAreInItsJson) {
  // Watched until it ends.
  std::string id;
  ASSERT_TRUE(ops_->SubmitAndWatch(MakeSpec("noop", "emails"),
                                   [&](const v1::JobEvent& e) {
                                     id = e.job_id();
                                     return true;
                                   })
                  .ok());
  Answer job = Get("/api/v1/jobs/" + id);
  ASSERT_EQ(job.status, 200);
  EXPECT_THAT(job.body, HasSubstr("\"attempts\":[{\"number\":1,"));
  EXPECT_THAT(job.body, HasSubstr("\"outcome\":\"ATTEMPT_OUTCOME_SUCCEEDED\""));
}

TEST_F(DashboardApiTest, BadInputIs400NamingTheField) {
  auto field_of = [](const Answer& a) {
    size_t at = a.body.find("\"field\":\"");
    if (at == std::string::npos) return std::string();
    at += 9;
    return a.body.substr(at, a.body.find('"', at) - at);
  };
  Answer limits = Post("/api/v1/queues/emails/limits", "ops-secret",
                       R"({"max_concurrency": -1})");
  EXPECT_EQ(limits.status, 400);
  EXPECT_EQ(field_of(limits), "max_concurrency");
  Answer body = Post("/api/v1/queues/emails/limits", "ops-secret", "{nope");
  EXPECT_EQ(body.status, 400);
  EXPECT_EQ(field_of(body), "body");
  Answer queue = Post("/api/v1/queues/No%20Such/pause");
  EXPECT_EQ(queue.status, 400);
  EXPECT_EQ(field_of(queue), "queue");
  Answer id = Get("/api/v1/jobs/xyz");
  EXPECT_EQ(id.status, 400);
  EXPECT_EQ(field_of(id), "job_id");
  Answer state = Get("/api/v1/queues/emails/jobs?state=SLEEPY");
  EXPECT_EQ(state.status, 400);
  EXPECT_EQ(field_of(state), "state");
  Answer token = Get("/api/v1/queues/emails/jobs?page_token=zz");
  EXPECT_EQ(token.status, 400);
  EXPECT_EQ(field_of(token), "page_token");
  // Label keys are at most 63 bytes.
  Answer label =
      Get("/api/v1/queues/emails/jobs?label=" + std::string(70, 'k') + "%3Dv");
  EXPECT_EQ(label.status, 400);
  EXPECT_EQ(field_of(label), "labels");
}

TEST_F(DashboardApiTest, AnUnknownJobIs404AndAFinishedOneCannotBeCancelled) {
  Answer missing = Get("/api/v1/jobs/00000000000000ff");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(Get("/api/v1/no/such/route").status, 404);
  v1::JobEvent end = RunToEnd(*ops_, MakeSpec("noop", "emails"));
  ASSERT_EQ(end.state(), v1::JOB_STATE_SUCCEEDED);
  Answer cancel = Post("/api/v1/jobs/" + end.job_id() + "/cancel");
  EXPECT_EQ(cancel.status, 409);
  EXPECT_THAT(cancel.body, HasSubstr("FAILED_PRECONDITION"));
}

TEST_F(DashboardApiTest, JobsArePagedWithListJobsTokensAndFilteredByState) {
  ASSERT_TRUE(ops_->PauseQueue("emails").ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Submit("emails"));
  Answer first = Get("/api/v1/queues/emails/jobs?state=READY&page_size=3");
  ASSERT_EQ(first.status, 200) << first.body;
  for (int i = 0; i < 3; ++i) EXPECT_THAT(first.body, HasSubstr(ids[i]));
  EXPECT_EQ(first.body.find(ids[3]), std::string::npos);
  EXPECT_THAT(first.body, HasSubstr("\"next_page_token\":\"" + ids[2]));
  Answer second =
      Get("/api/v1/queues/emails/jobs?state=READY&page_size=3"
          "&page_token=" +
          ids[2]);
  ASSERT_EQ(second.status, 200);
  EXPECT_THAT(second.body, HasSubstr(ids[3]));
  EXPECT_THAT(second.body, HasSubstr(ids[4]));
  EXPECT_EQ(second.body.find(ids[0]), std::string::npos);
  Answer none = Get("/api/v1/queues/emails/jobs?state=SUCCEEDED");
  EXPECT_EQ(none.body.find(ids[0]), std::string::npos);
  // A job cancelled through the API is cancelled for gRPC too.
  ASSERT_EQ(Post("/api/v1/jobs/" + ids[0] + "/cancel").status, 200);
  auto job = ops_->GetJob(ids[0]);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_STATE_CANCELLED);
}

TEST_F(DashboardApiTest, SamplesAreServedAsJson) {
  Submit("emails");
  Answer samples = Get("/api/v1/samples");
  ASSERT_EQ(samples.status, 200);
  EXPECT_THAT(samples.body, HasSubstr("\"capacity\":180"));
  EXPECT_THAT(samples.body, HasSubstr("\"queues\":{"));
}

// A job that ends DEAD: a sleep past its timeout, with one attempt.
v1::JobSpec Doomed(const std::string& queue) {
  v1::JobSpec spec = MakeSpec("sleep", queue, "30s");
  spec.mutable_timeout()->set_nanos(10'000'000);
  return spec;
}

std::string FieldOf(const Answer& a) {
  size_t at = a.body.find("\"field\":\"");
  if (at == std::string::npos) return std::string();
  at += 9;
  return a.body.substr(at, a.body.find('"', at) - at);
}

TEST_F(DashboardApiTest, RetryAndDeleteActOnAJobAsGrpcSeesIt) {
  v1::JobEvent end = RunToEnd(*ops_, Doomed("emails"));
  ASSERT_EQ(end.state(), v1::JOB_STATE_DEAD);
  const std::string job = "/api/v1/jobs/" + end.job_id();
  // Who may: as JobService.RetryJob, not a reader, not another queue's
  // admin.
  Answer reader = Post(job + "/retry", "reader-secret");
  EXPECT_EQ(reader.status, 403);
  EXPECT_THAT(reader.body, HasSubstr("PERMISSION_DENIED"));
  Answer other = Post(job + "/retry", "billing-admin-secret");
  EXPECT_EQ(other.status, 403);
  EXPECT_THAT(other.body, HasSubstr(end.job_id()));
  auto still = ops_->GetJob(end.job_id());
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->state(), v1::JOB_STATE_DEAD);

  // Retried while its queue is paused: READY, its attempts afresh.
  ASSERT_TRUE(ops_->PauseQueue("emails").ok());
  Answer retry = Post(job + "/retry");
  ASSERT_EQ(retry.status, 200) << retry.body;
  EXPECT_THAT(retry.body, HasSubstr("\"state\":\"JOB_STATE_READY\""));
  EXPECT_THAT(retry.body, HasSubstr("\"attempt\":0"));
  auto ready = ops_->GetJob(end.job_id());
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->state(), v1::JOB_STATE_READY);
  EXPECT_EQ(ready->attempt(), 0);

  // A job in the wrong state: 409, for either.
  Answer again = Post(job + "/retry");
  EXPECT_EQ(again.status, 409);
  EXPECT_THAT(again.body, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_EQ(Post(job + "/delete").status, 409);

  // Cancelled, it may be deleted; then it is gone for gRPC and the API.
  ASSERT_TRUE(ops_->CancelJob(end.job_id()).ok());
  EXPECT_EQ(Post(job + "/delete", "reader-secret").status, 403);
  Answer deleted = Post(job + "/delete");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(ops_->GetJob(end.job_id()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Get(job).status, 404);
  EXPECT_EQ(Post(job + "/retry").status, 404);
  EXPECT_EQ(Post(job + "/delete").status, 404);

  // A producer acts on its queues' jobs, as through gRPC.
  ASSERT_TRUE(ops_->ResumeQueue("emails").ok());
  v1::JobEvent second = RunToEnd(*ops_, Doomed("emails"));
  ASSERT_EQ(second.state(), v1::JOB_STATE_DEAD);
  EXPECT_EQ(
      Post("/api/v1/jobs/" + second.job_id() + "/retry", "producer-secret")
          .status,
      200);

  Answer bad = Post("/api/v1/jobs/xyz/retry");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(FieldOf(bad), "job_id");
  EXPECT_EQ(Post(job + "/revive").status, 404);
}

TEST_F(DashboardApiTest, RetryDeadAndPurgeActOnTheQueueAsGrpcSeesIt) {
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(RunToEnd(*ops_, Doomed("emails")).state(), v1::JOB_STATE_DEAD);
  }
  const std::string queue = "/api/v1/queues/emails";
  EXPECT_EQ(Post(queue + "/retry-dead", "reader-secret").status, 403);
  EXPECT_EQ(Post(queue + "/purge", "producer-secret", R"({"states": ["DEAD"]})")
                .status,
            403);
  Answer other = Post(queue + "/retry-dead", "billing-admin-secret");
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(FieldOf(other), "queue");

  Answer limit = Post(queue + "/retry-dead", "ops-secret", R"({"limit": -1})");
  EXPECT_EQ(limit.status, 400);
  EXPECT_EQ(FieldOf(limit), "limit");
  Answer body = Post(queue + "/retry-dead", "ops-secret", "{nope");
  EXPECT_EQ(body.status, 400);
  EXPECT_EQ(FieldOf(body), "body");
  EXPECT_EQ(Post("/api/v1/queues/nosuch/retry-dead").status, 404);

  // Paused, so that the retried jobs stay READY to be counted.
  ASSERT_TRUE(ops_->PauseQueue("emails").ok());
  Answer retried = Post(queue + "/retry-dead");
  ASSERT_EQ(retried.status, 200) << retried.body;
  EXPECT_THAT(retried.body, HasSubstr("\"count\":\"2\""));
  auto queues = ops_->ListQueues();
  ASSERT_TRUE(queues.ok());
  ASSERT_EQ(queues->queues_size(), 1);
  EXPECT_EQ(queues->queues(0).dead(), 0u);
  EXPECT_EQ(queues->queues(0).ready(), 2u);

  for (const char* states :
       {R"({})", R"({"states": []})", R"({"states": ["SLEEPY"]})",
        R"({"states": ["FAILED"]})", R"({"states": [99]})",
        R"({"states": "DEAD"})"}) {
    Answer bad = Post(queue + "/purge", "ops-secret", states);
    EXPECT_EQ(bad.status, 400) << states;
    EXPECT_EQ(FieldOf(bad), "states") << states << " " << bad.body;
  }
  Answer purged = Post(queue + "/purge", "ops-secret",
                       R"({"states": ["READY", "JOB_STATE_DEAD"]})");
  ASSERT_EQ(purged.status, 200) << purged.body;
  EXPECT_THAT(purged.body, HasSubstr("\"count\":\"2\""));
  queues = ops_->ListQueues();
  ASSERT_TRUE(queues.ok());
  EXPECT_EQ(queues->queues(0).ready(), 0u);
  v1::ListJobsRequest list;
  list.set_queue("emails");
  auto listed = ops_->ListJobs(list);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->jobs_size(), 0);
}

}  // namespace
}  // namespace jobq::testing
