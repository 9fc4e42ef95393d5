#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "common/histogram.h"

namespace jobq {

// A Histogram that many threads record into at once and any thread reads:
// relaxed atomic counters, so a record costs a few uncontended atomic adds
// and no lock. A snapshot taken while others record may see a value in its
// bucket but not yet in the count (or the reverse); Snapshot() makes the
// count the buckets' sum, so quantiles stay consistent.
// Thread: any.
class ConcurrentHistogram {
 public:
  void Record(int64_t value);
  Histogram Snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, Histogram::kBuckets> counts_{};
  std::atomic<int64_t> max_{0};
  std::atomic<int64_t> sum_{0};
};

}  // namespace jobq
