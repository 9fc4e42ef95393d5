// Measures what listing costs the core thread, and the scheduler's memory
// per job: a queue `big` of N READY jobs (the last 1,000 submitted RUNNING,
// 10 of them labelled), then a queue `small` of 100 jobs, and one page of
// ListJobs (100 jobs) for several filters: the walk over every job held
// (what ListJobs did before the scheduler had indexes) against
// Scheduler::ListPage, one step of it (the budget ListJobs spends per core
// turn) and the whole page over as many steps as it needs. Prints
// figures; asserts nothing.
//   list_bench [jobs=2000000]
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/scheduler.h"

namespace jobq::core {
namespace {

constexpr TimeUs kT0 = 1'700'000'000 * kSecond;
constexpr size_t kPage = 100;

struct Filter {
  const char* name;
  std::string queue;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  std::string label = "";  // tag=<label> when set.
};

bool Matches(const Filter& f, const Job& job) {
  if (!f.queue.empty() && job.queue() != f.queue) return false;
  if (f.state != v1::JOB_STATE_UNSPECIFIED && job.state != f.state) {
    return false;
  }
  if (!f.label.empty()) {
    auto it = job.labels().find("tag");
    if (it == job.labels().end() || it->second != f.label) return false;
  }
  return true;
}

// The page as ListJobs computed it by walking every job held from the
// token: the page and whether one more match exists.
size_t ScanPage(const Scheduler& s, const Filter& f, uint64_t after,
                bool* more) {
  const auto& jobs = s.jobs();
  size_t n = 0;
  *more = false;
  for (auto it = jobs.upper_bound(after); it != jobs.end(); ++it) {
    if (!Matches(f, *it)) continue;
    if (n == kPage) {
      *more = true;
      break;
    }
    ++n;
  }
  return n;
}

double Micros(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

template <typename F>
double BestOf(int runs, F&& f) {
  double best = 1e18;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, Micros(std::chrono::steady_clock::now() - t0));
  }
  return best;
}

int Main(uint64_t n) {
  SchedulerOptions options;
  Scheduler s(options, nullptr);
  v1::JobSpec spec;
  spec.set_queue("big");
  spec.set_kind("noop");
  TimeUs now = kT0;
  size_t before = mallinfo2().uordblks;
  for (uint64_t i = 0; i < n; ++i) {
    if (i % 1000 == 0) ++now;
    s.Submit(spec, now);
  }
  size_t after = mallinfo2().uordblks;
  std::printf("jobs held: %llu READY in one queue\n",
              static_cast<unsigned long long>(n));
  std::printf("scheduler memory: %.1f bytes/job\n",
              static_cast<double>(after - before) / static_cast<double>(n));

  // The last 1,000 of `big` run first (a higher priority); 10 of them are
  // labelled. Then 100 jobs of `small`.
  spec.set_priority(1);
  v1::JobSpec labelled = spec;
  labelled.mutable_labels()->insert({"tag", "x"});
  for (int i = 0; i < 1000; ++i)
    s.Submit(i % 100 == 0 ? labelled : spec, ++now);
  s.TakeRunnable(++now, 1000);
  spec.set_priority(0);
  spec.set_queue("small");
  for (int i = 0; i < 100; ++i) s.Submit(spec, ++now);

  uint64_t middle = s.jobs().begin()->seq + n / 2;
  std::vector<std::pair<Filter, uint64_t>> cases = {
      {{"queue=big state=READY, first page", "big", v1::JOB_STATE_READY}, 0},
      {{"queue=big state=READY, from the middle", "big", v1::JOB_STATE_READY},
       middle},
      {{"queue=big state=RUNNING", "big", v1::JOB_STATE_RUNNING}, 0},
      {{"queue=small", "small"}, 0},
      {{"state=RUNNING (any queue)", "", v1::JOB_STATE_RUNNING}, 0},
      {{"queue=big label tag=x", "big", v1::JOB_STATE_UNSPECIFIED, "x"}, 0},
  };
  // The index: one ListPage call with the visit budget of a ListJobs
  // step; and the whole page, resumed until complete.
  std::printf("\n%-40s %12s %12s %12s %7s\n", "one page of 100, filter",
              "walk all us", "1 step us", "page us", "steps");
  for (const auto& [f, token] : cases) {
    bool more = false;
    size_t got = 0;
    double scan = BestOf(3, [&] { got = ScanPage(s, f, token, &more); });
    JobFilter filter;
    filter.queue = f.queue;
    filter.state = f.state;
    if (!f.label.empty()) filter.labels["tag"] = f.label;
    double step = BestOf(3, [&] {
      s.ListPage(filter, token, kPage, JobListing::kVisitsPerStep);
    });
    size_t steps = 0;
    size_t indexed = 0;
    double page = BestOf(3, [&] {
      steps = 0;
      indexed = 0;
      uint64_t after = token;
      size_t left = kPage;
      for (;;) {
        ++steps;
        JobPage p = s.ListPage(filter, after, left, JobListing::kVisitsPerStep);
        indexed += p.jobs.size();
        left -= p.jobs.size();
        if (!p.resume_after) break;
        after = *p.resume_after;
      }
    });
    std::printf("%-40s %12.1f %12.1f %12.1f %7zu  (%zu jobs%s; index %zu)\n",
                f.name, scan, step, page, steps, got, more ? ", more" : "",
                indexed);
  }
  return 0;
}

}  // namespace
}  // namespace jobq::core

int main(int argc, char** argv) {
  uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
  return jobq::core::Main(n);
}
