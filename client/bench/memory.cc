// memory: jobqd's resident memory per queued job, and once they have run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/bench/jobs.h"
#include "client/bench/scenario.h"

namespace jobq::bench {
namespace {

// jobqd's stats at each step of the scenario.
struct MemorySamples {
  v1::GetStatsResponse before, at_half, queued, drained;
  uint64_t done = 0;  // Jobs of the queue that completed.
};

// Resumes `queue` and polls until its `count` jobs have completed (a
// watch of half a million completions would only test the stream
// buffer), for at most 10 minutes. Returns how many did.
uint64_t RunQueue(client::Client& c, const std::string& queue, uint64_t count) {
  uint64_t done = 0;
  if (!c.ResumeQueue(queue).ok()) return 0;
  auto deadline = Clock::now() + std::chrono::minutes(10);
  while (done < count && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto s = c.GetStats();
    if (!s.ok()) break;
    for (const auto& q : s->queues()) {
      if (q.name() == queue) done = q.completed_total();
    }
  }
  return done;
}

// Queues o.count jobs into a paused queue, reading jobqd's stats before,
// at half way and at the end; then runs them all. False (after saying
// why, where there is more to say) when a call failed.
bool Sample(client::Client& c, const Options& o, MemorySamples* m) {
  std::string queue = FreshQueue("memory-");
  if (auto s = c.PauseQueue(queue); !s.ok()) {
    std::fprintf(stderr, "memory: %s\n",
                 std::string(s.status().message()).c_str());
    return false;
  }
  auto stats = [&c](v1::GetStatsResponse* out) {
    auto s = c.GetStats();
    if (s.ok()) *out = *std::move(s);
    return s.ok();
  };
  if (!stats(&m->before)) return false;
  v1::JobSpec spec = MakeJob(o, 0);
  spec.set_queue(queue);
  // Resident memory is read at half way too: the growth over the second
  // half is the cost of a queued job, without the fixed cost of the first
  // calls (gRPC buffers, the allocator's working set for a batch).
  const uint64_t half = o.count / 2;
  absl::Status sent = SubmitCopies(c, spec, half);
  if (sent.ok() && half > 0 && !stats(&m->at_half)) return false;
  if (sent.ok()) sent = SubmitCopies(c, spec, o.count - half);
  if (!sent.ok()) {
    std::fprintf(stderr, "memory: %s\n", std::string(sent.message()).c_str());
    return false;
  }
  if (half == 0) m->at_half = m->before;
  if (!stats(&m->queued)) return false;
  m->done = RunQueue(c, queue, o.count);
  return stats(&m->drained);
}

void PrintMemory(const Options& o, const MemorySamples& m) {
  double mib = 1024.0 * 1024.0;
  auto rss = [](const v1::GetStatsResponse& s) {
    return static_cast<double>(s.resident_memory_bytes());
  };
  const uint64_t half = o.count / 2;
  double per_job = (rss(m.queued) - rss(m.at_half)) /
                   static_cast<double>(std::max<uint64_t>(1, o.count - half));
  double overall =
      (rss(m.queued) - rss(m.before)) / static_cast<double>(o.count);
  if (o.json) {
    std::printf(
        "{\"scenario\":\"memory\",\"jobs\":%llu,\"payload\":%zu,"
        "\"bytes_per_queued_job\":%.0f,\"bytes_per_job_overall\":%.0f,"
        "\"rss_before\":%llu,"
        "\"rss_queued\":%llu,\"rss_drained\":%llu,\"jobs_held_drained\":%llu,"
        "\"completed\":%llu}\n",
        static_cast<unsigned long long>(o.count), o.payload, per_job, overall,
        static_cast<unsigned long long>(m.before.resident_memory_bytes()),
        static_cast<unsigned long long>(m.queued.resident_memory_bytes()),
        static_cast<unsigned long long>(m.drained.resident_memory_bytes()),
        static_cast<unsigned long long>(m.drained.jobs_held()),
        static_cast<unsigned long long>(m.done));
  } else {
    std::printf(
        "%-48s %9.0f bytes/job (%.0f with the fixed cost)  rss %.1f -> %.1f "
        "MiB queued, %.1f MiB after running them (%llu jobs still held)\n",
        absl::StrCat("memory (", o.count, " queued ", o.payload, "-byte jobs)")
            .c_str(),
        per_job, overall, m.before.resident_memory_bytes() / mib,
        m.queued.resident_memory_bytes() / mib,
        m.drained.resident_memory_bytes() / mib,
        static_cast<unsigned long long>(m.drained.jobs_held()));
  }
}

// Queues N jobs into a paused queue and reports the server's resident
// memory per job; then runs them all and reports the memory again.
int Memory(client::Client& c, const Options& o) {
  MemorySamples m;
  if (!Sample(c, o, &m)) return 1;
  PrintMemory(o, m);
  return m.done == o.count ? 0 : 1;
}

}  // namespace

void AddMemory(CLI::App& app, Options& o, ScenarioTable& scenarios) {
  auto* cmd = app.add_subcommand(
      "memory", "server memory per queued job, and after running them");
  cmd->add_option("--count,-n", o.count, "jobs")->capture_default_str();
  cmd->add_option("--payload", o.payload, "payload bytes")
      ->capture_default_str();
  scenarios.Add(cmd, [&o](client::Client& c) { return Memory(c, o); });
}

}  // namespace jobq::bench
