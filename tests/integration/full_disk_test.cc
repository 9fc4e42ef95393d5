// The real jobqd on a file system that fills up (a small tmpfs, so the test
// needs root to mount it): no change is acknowledged that is not stored,
// a refused change changes nothing, jobqd says it is degraded, and it
// resumes by itself when there is space again, with nothing lost.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

// A tmpfs of `bytes`, mounted for the test's life.
class SmallDisk {
 public:
  explicit SmallDisk(size_t bytes) : dir_(TempPath("disk")) {
    std::filesystem::create_directories(dir_);
    std::string options = absl::StrCat("size=", bytes);
    mounted_ = mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
    std::filesystem::remove_all(dir_);
  }
  bool mounted() const { return mounted_; }
  const std::string& dir() const { return dir_; }
  // Writes a file until the disk is full.
  void Fill() {
    std::ofstream out(dir_ + "/filler", std::ios::binary);
    std::string block(64 << 10, 'x');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size())))
      out.flush();
  }
  void Free() { std::filesystem::remove(dir_ + "/filler"); }

 private:
  std::string dir_;
  bool mounted_ = false;
};

TEST(FullDiskTest,
     NothingIsAcknowledgedUnstoredAndJobqdResumesWhenSpaceReturns) {
  SmallDisk disk(8 << 20);
  if (!disk.mounted()) GTEST_SKIP() << "mounting a tmpfs needs root";
  const std::string data = disk.dir() + "/data";
  auto jobqd = JobqdProcess::Start({"--data-dir", data});
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();
  ASSERT_TRUE(c.PauseQueue("held").ok());
  auto held = c.Submit(MakeSpec("noop", "held"));
  ASSERT_TRUE(held.ok()) << held.status();
  // Jobs that are running when the disk fills, and end while it is full.
  std::vector<std::string> running;
  for (int i = 0; i < 20; ++i) {
    auto r = c.Submit(MakeSpec("sleep", "work", "2500ms"));
    ASSERT_TRUE(r.ok()) << r.status();
    running.push_back(r->job_id());
  }
  v1::WatchRequest watch;
  for (const auto& id : running) watch.add_job_ids(id);
  size_t started = 0;
  ASSERT_TRUE(c.Watch(watch, [&](const v1::JobEvent& e) {
                 if (e.state() == v1::JOB_STATE_RUNNING) ++started;
                 return started < running.size();
               }).ok());

  disk.Fill();
  // The log's last page may still have room for a few records: submits go
  // through until the first write fails. That submit is refused, and
  // jobqd is degraded.
  absl::Status refused;
  std::vector<std::string> accepted;
  for (int i = 0; i < 10'000 && refused.ok(); ++i) {
    auto r = c.Submit(MakeSpec("noop", "held"));
    if (r.ok()) accepted.push_back(r->job_id());
    refused = r.status();
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_TRUE(c.WaitForHealth(false, 30'000).ok());
  int ready = 0;
  HttpGet(jobqd->http_port(), "/readyz", &ready);
  EXPECT_EQ(ready, 503);
  // Every change is refused, and changes nothing.
  EXPECT_EQ(c.CancelJob(held->job_id()).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(c.ResumeQueue("held").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(c.SetQueueLimits("held", 5).status().code(),
            absl::StatusCode::kResourceExhausted);
  std::vector<v1::JobSpec> batch = {MakeSpec("noop", "work")};
  EXPECT_EQ(c.SubmitBatch(batch).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(c.SubmitAndWatch(MakeSpec("noop", "work"),
                             [](const v1::JobEvent&) { return true; })
                .code(),
            absl::StatusCode::kResourceExhausted);
  // Reads go on, and say why.
  auto job = c.GetJob(held->job_id());
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_STATE_READY);
  auto stats = c.GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_NE(stats->storage_stats().stalled(), "");
  EXPECT_TRUE(stats->queues().size() > 0);
  for (const auto& q : stats->queues()) {
    if (q.name() == "held") {
      EXPECT_TRUE(q.paused());
      EXPECT_EQ(q.max_concurrency(), 0);
    }
  }
  // The running jobs end meanwhile; their ends wait for the disk.
  size_t ended = 0;
  ASSERT_TRUE(c.Watch(watch, [&](const v1::JobEvent& e) {
                 if (e.state() == v1::JOB_STATE_SUCCEEDED) ++ended;
                 return ended < running.size();
               }).ok());

  disk.Free();
  EXPECT_TRUE(c.WaitForHealth(true, 30'000).ok());
  HttpGet(jobqd->http_port(), "/readyz", &ready);
  EXPECT_EQ(ready, 200);
  auto cancelled = c.CancelJob(held->job_id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  // Said once, not once per retry.
  std::string log = jobqd->Log();
  size_t said = 0;
  for (size_t pos = 0; (pos = log.find("cannot write", pos)) != log.npos;
       ++pos) {
    ++said;
  }
  EXPECT_EQ(said, 1u) << log;

  // A crash now: everything acknowledged, and every end, is there.
  jobqd->Stop(SIGKILL);
  jobqd = JobqdProcess::Start({"--data-dir", data});
  ASSERT_NE(jobqd, nullptr);
  auto& c2 = jobqd->client();
  job = c2.GetJob(held->job_id());
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_STATE_CANCELLED);
  for (const auto& id : running) {
    auto j = c2.GetJob(id);
    ASSERT_TRUE(j.ok()) << id;
    EXPECT_EQ(j->state(), v1::JOB_STATE_SUCCEEDED) << id;
    EXPECT_EQ(j->attempt(), 1) << id;
  }
  for (const auto& id : accepted) {
    auto j = c2.GetJob(id);
    ASSERT_TRUE(j.ok()) << "lost acknowledged job " << id;
  }
  auto queues = c2.ListQueues();
  ASSERT_TRUE(queues.ok());
  for (const auto& q : queues->queues()) {
    if (q.name() == "held") {
      EXPECT_TRUE(q.paused());
    }
  }
  jobqd->Stop(SIGTERM);
}

}  // namespace
}  // namespace jobq::testing
