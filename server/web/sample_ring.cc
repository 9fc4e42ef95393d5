#include "web/sample_ring.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "jobq/v1/jobq.pb.h"
#include "web/json_text.h"

namespace jobq::web {

// The memory bound in the header counts on this size.
static_assert(sizeof(SampleRing::Sample) == 96);

SampleRing::SampleRing(size_t capacity, size_t max_queues)
    : capacity_(capacity < 2 ? 2 : capacity), max_queues_(max_queues) {}

void SampleRing::Add(TimeUs at, const engine::CoreFigures& figures) {
  std::lock_guard lock(mu_);
  std::map<std::string, std::deque<Sample>> next;
  size_t dropped = 0;
  for (const engine::QueueFigures& q : figures.queues) {
    if (next.size() == max_queues_) {
      ++dropped;
      continue;
    }
    Sample s;
    s.at = at;
    s.submitted_total = q.submitted_total;
    s.finished_total = q.succeeded_total + q.dead_total + q.cancelled_total;
    s.failed_total = q.failed_total;
    s.running = q.by_state[v1::JOB_STATE_RUNNING];
    s.ready = q.by_state[v1::JOB_STATE_READY];
    s.scheduled = q.by_state[v1::JOB_STATE_SCHEDULED];
    s.wait_count = q.queue_wait.Count();
    s.wait_sum = q.queue_wait.Sum();
    s.run_count = q.run_time.Count();
    s.run_sum = q.run_time.Sum();
    s.paused = q.paused;
    auto old = queues_.find(q.name);
    std::deque<Sample>& ring = next[q.name];
    if (old != queues_.end()) ring = std::move(old->second);
    ring.push_back(s);
    while (ring.size() > capacity_) ring.pop_front();
  }
  queues_ = std::move(next);
  queues_dropped_ = dropped;
}

size_t SampleRing::size(const std::string& queue) const {
  std::lock_guard lock(mu_);
  auto it = queues_.find(queue);
  return it == queues_.end() ? 0 : it->second.size();
}

void SampleRing::BeginJson(std::string* out) const {
  absl::StrAppend(out, "{\"queues_dropped\":", queues_dropped_,
                  ",\"capacity\":", capacity_, ",\"queues\":{");
}

void SampleRing::EndJson(std::string* out) { out->append("}}"); }

namespace {

// Mean in milliseconds of what was recorded between two cumulative
// (count, sum) pairs, or null.
std::string MeanMs(uint64_t count0, int64_t sum0, uint64_t count1,
                   int64_t sum1) {
  if (count1 <= count0) return "null";
  double mean_us =
      static_cast<double>(sum1 - sum0) / static_cast<double>(count1 - count0);
  return absl::StrFormat("%.3f", mean_us / 1000.0);
}

}  // namespace

void SampleRing::AppendQueue(const std::string& name,
                             const std::deque<Sample>& ring, bool first,
                             std::string* out) {
  if (!first) out->push_back(',');
  AppendJsonString(name, out);
  out->append(":[");
  for (size_t i = 1; i < ring.size(); ++i) {
    const Sample& a = ring[i - 1];
    const Sample& b = ring[i];
    double seconds = static_cast<double>(b.at - a.at) / 1e6;
    if (seconds <= 0) continue;
    // Totals only grow, but a queue forgotten and created again restarts.
    auto per_s = [seconds](uint64_t x0, uint64_t x1) {
      return x1 >= x0 ? static_cast<double>(x1 - x0) / seconds : 0.0;
    };
    if (i > 1) out->push_back(',');
    absl::StrAppend(
        out, "{\"t\":", b.at / 1000, ",\"in\":",
        absl::StrFormat("%.3f", per_s(a.submitted_total, b.submitted_total)),
        ",\"out\":",
        absl::StrFormat("%.3f", per_s(a.finished_total, b.finished_total)),
        ",\"failed\":",
        absl::StrFormat("%.3f", per_s(a.failed_total, b.failed_total)),
        ",\"running\":", b.running, ",\"waiting\":", b.ready + b.scheduled,
        ",\"wait_ms\":",
        MeanMs(a.wait_count, a.wait_sum, b.wait_count, b.wait_sum),
        ",\"run_ms\":", MeanMs(a.run_count, a.run_sum, b.run_count, b.run_sum),
        "}");
  }
  out->push_back(']');
}

}  // namespace jobq::web
