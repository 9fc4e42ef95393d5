// Recurring schedules in the real jobqd: created through gRPC and jobqctl,
// an "@every 1s" schedule fires jobs, schedules survive kill -9 without
// firing a slot twice, and bad specs and zones are refused by field.
#include <signal.h>

#include <set>

#include "client/schedules.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

v1::Schedule EverySecond(const std::string& name, const std::string& queue) {
  v1::Schedule s;
  s.set_name(name);
  s.set_spec("@every 1s");
  s.mutable_job()->set_queue(queue);
  s.mutable_job()->set_kind("noop");
  return s;
}

// Watches `queue` until `n` distinct jobs have succeeded; returns their ids.
std::set<std::string> WaitSucceeded(client::Client& c, const std::string& queue,
                                    size_t n) {
  v1::WatchRequest req;
  req.set_queue(queue);
  req.add_states(v1::JOB_STATE_SUCCEEDED);
  std::set<std::string> ids;
  absl::Status s = c.Watch(req, [&](const v1::JobEvent& e) {
    ids.insert(e.job_id());
    return ids.size() < n;
  });
  EXPECT_TRUE(s.ok()) << s;
  return ids;
}

// The jobq.slot labels of every job in `queue`.
std::vector<std::string> Slots(client::Client& c, const std::string& queue) {
  v1::ListJobsRequest req;
  req.set_queue(queue);
  req.set_page_size(1000);
  auto page = c.ListJobs(req);
  EXPECT_TRUE(page.ok()) << page.status();
  std::vector<std::string> slots;
  if (!page.ok()) return slots;
  for (const auto& j : page->jobs()) {
    auto it = j.spec().labels().find("jobq.slot");
    slots.push_back(it == j.spec().labels().end() ? "" : it->second);
  }
  return slots;
}

class ScheduleTest : public JobqdTest {};

TEST_F(ScheduleTest, AnEverySecondScheduleFiresJobsFromItsTemplate) {
  client::ScheduleClient schedules(&c());
  auto created = schedules.Create(EverySecond("tick", "ticks"));
  ASSERT_TRUE(created.ok()) << created.status();
  auto ids = WaitSucceeded(c(), "ticks", 2);
  ASSERT_EQ(ids.size(), 2u);
  for (const auto& id : ids) {
    auto job = c().GetJob(id);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(job->spec().kind(), "noop");
    EXPECT_EQ(job->spec().labels().at("jobq.schedule"), "tick");
  }
  auto got = schedules.Get("tick");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->last_job_id().empty());
  EXPECT_TRUE(got->has_next_run());
}

TEST_F(ScheduleTest, BadSpecsAndUnknownZonesAreInvalidArgumentsNamingTheField) {
  client::ScheduleClient schedules(&c());
  v1::Schedule bad = EverySecond("bad", "q");
  bad.set_spec("*/5 * * *");
  auto r = schedules.Create(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("schedule.spec"), std::string::npos)
      << r.status();
  bad.set_spec("0 25 * * *");
  r = schedules.Create(bad);
  EXPECT_NE(r.status().message().find("schedule.spec: hour field"),
            std::string::npos)
      << r.status();
  bad.set_spec("@daily");
  bad.set_time_zone("Europe/Nowhere");
  r = schedules.Create(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("schedule.time_zone"), std::string::npos)
      << r.status();
  bad.set_time_zone("");
  bad.mutable_job()->set_kind("");
  r = schedules.Create(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("schedule.job.kind"), std::string::npos)
      << r.status();
  EXPECT_EQ(schedules.List()->schedules_size(), 0);
}

TEST_F(ScheduleTest, JobqctlManagesSchedules) {
  auto run =
      Ctl("schedule create nightly --cron '0 3 * * MON-FRI' --tz Europe/Berlin "
          "--kind noop --payload hello --queue reports --overlap skip "
          "--catch-up once");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_NE(run.out.find("Europe/Berlin"), std::string::npos) << run.out;
  run = Ctl("schedule ls");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_NE(run.out.find("nightly"), std::string::npos) << run.out;
  run = Ctl("schedule get nightly --json");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_NE(run.out.find("\"overlap\":\"OVERLAP_SKIP\""), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("\"catch_up\":\"CATCH_UP_ONCE\""), std::string::npos)
      << run.out;
  run = Ctl("schedule pause nightly --json");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_NE(run.out.find("\"paused\":true"), std::string::npos) << run.out;
  run = Ctl("schedule resume nightly");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  run = Ctl("schedule trigger nightly");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  std::string id = run.out.substr(0, run.out.find('\n'));
  auto job = c().GetJob(id);
  ASSERT_TRUE(job.ok()) << job.status() << " " << run.out;
  EXPECT_EQ(job->spec().payload(), "hello");
  EXPECT_EQ(job->spec().queue(), "reports");
  run = Ctl("schedule rm nightly");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  run = Ctl("schedule get nightly");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.out.find("NOT_FOUND"), std::string::npos) << run.out;
  run = Ctl("schedule create bad --cron '61 * * * *' --kind noop");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.out.find("INVALID_ARGUMENT"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("schedule.spec: minute field"), std::string::npos)
      << run.out;
}

TEST(ScheduleDurabilityTest, SchedulesSurviveKillNineAndNoSlotFiresTwice) {
  const std::string dir = TempPath("data");
  auto jobqd = JobqdProcess::Start({"--data-dir", dir});
  ASSERT_NE(jobqd, nullptr);
  {
    client::ScheduleClient schedules(&jobqd->client());
    ASSERT_TRUE(schedules.Create(EverySecond("tick", "ticks")).ok());
  }
  ASSERT_GE(WaitSucceeded(jobqd->client(), "ticks", 2).size(), 2u);
  EXPECT_EQ(jobqd->Stop(SIGKILL), 128 + SIGKILL);

  jobqd = JobqdProcess::Start({"--data-dir", dir});
  ASSERT_NE(jobqd, nullptr);
  client::ScheduleClient schedules(&jobqd->client());
  auto got = schedules.Get("tick");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->spec(), "@every 1s");
  // It goes on firing after the restart ...
  size_t before = Slots(jobqd->client(), "ticks").size();
  ASSERT_EQ(WaitSucceeded(jobqd->client(), "ticks", 2).size(), 2u);
  // ... and every job it submitted, before and after, has its own slot.
  std::vector<std::string> slots = Slots(jobqd->client(), "ticks");
  ASSERT_GE(slots.size(), before + 2);
  std::set<std::string> unique(slots.begin(), slots.end());
  EXPECT_EQ(unique.size(), slots.size());
  EXPECT_EQ(unique.count(""), 0u);
}

}  // namespace
}  // namespace jobq::testing
