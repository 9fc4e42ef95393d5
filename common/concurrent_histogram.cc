#include "common/concurrent_histogram.h"

#include <algorithm>

namespace jobq {

void ConcurrentHistogram::Record(int64_t value) {
  value = std::max<int64_t>(0, value);
  counts_[Histogram::BucketOf(static_cast<uint64_t>(value))].fetch_add(
      1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  int64_t seen = max_.load(std::memory_order_relaxed);
  while (value > seen &&
         !max_.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

Histogram ConcurrentHistogram::Snapshot() const {
  Histogram h;
  for (int b = 0; b < Histogram::kBuckets; ++b) {
    uint64_t n = counts_[b].load(std::memory_order_relaxed);
    h.counts_[b] = n;
    h.count_ += n;
  }
  h.sum_ = sum_.load(std::memory_order_relaxed);
  h.max_ = max_.load(std::memory_order_relaxed);
  return h;
}

}  // namespace jobq
