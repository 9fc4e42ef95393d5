#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "engine/core_api.h"

namespace jobq::web {

// The dashboard's recent history: per queue, a bounded ring of samples of
// its cumulative figures (engine::CoreFigures), taken every few seconds,
// from which the charts' points are derived (rates and mean timings over
// each interval between two samples).
//
// Memory is bounded: at most `max_queues` queues (the first by name; the
// rest are not sampled, and `queues_dropped` says how many) of at most
// `capacity` samples each, a sample being sizeof(Sample) = 96 bytes. The
// defaults (180 samples every 5 s: 15 minutes, 256 queues) cap it near
// 4.2 MiB; ten queues hold about 170 KiB. A queue gone from the figures
// (forgotten by the core) is dropped from the ring.
// Thread: any (a mutex guards it).
class SampleRing {
 public:
  struct Sample {
    TimeUs at = 0;
    uint64_t submitted_total = 0;
    uint64_t finished_total = 0;  // Succeeded, dead or cancelled.
    uint64_t running = 0;
    uint64_t ready = 0;
    uint64_t scheduled = 0;
    uint64_t wait_count = 0;
    int64_t wait_sum = 0;  // Microseconds.
    uint64_t run_count = 0;
    int64_t run_sum = 0;
    uint64_t failed_total = 0;
    bool paused = false;
  };

  explicit SampleRing(size_t capacity = 180, size_t max_queues = 256);

  void Add(TimeUs at, const engine::CoreFigures& figures);

  // The series as JSON: {"queues_dropped":N,"queues":{"name":[point...]}},
  // a point per interval between consecutive samples:
  //   {"t": end of the interval, ms since the epoch,
  //    "in": submits/s, "out": finishes/s, "running": at its end,
  //    "waiting": ready + scheduled at its end,
  //    "wait_ms"/"run_ms": mean queue wait and run time of the jobs that
  //    started/finished in it (null when none did)}.
  // Only queues `visible` admits are included.
  template <typename Visible>
  std::string Json(Visible visible) const {
    std::lock_guard lock(mu_);
    std::string out;
    BeginJson(&out);
    bool first = true;
    for (const auto& [name, ring] : queues_) {
      if (!visible(name)) continue;
      AppendQueue(name, ring, first, &out);
      first = false;
    }
    EndJson(&out);
    return out;
  }

  size_t size(const std::string& queue) const;

 private:
  void BeginJson(std::string* out) const;
  static void AppendQueue(const std::string& name,
                          const std::deque<Sample>& ring, bool first,
                          std::string* out);
  static void EndJson(std::string* out);

  const size_t capacity_;
  const size_t max_queues_;
  mutable std::mutex mu_;
  std::map<std::string, std::deque<Sample>> queues_;  // Guarded by mu_.
  size_t queues_dropped_ = 0;                         // Guarded by mu_.
};

}  // namespace jobq::web
