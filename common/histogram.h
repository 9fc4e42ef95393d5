#pragma once

#include <array>
#include <cstdint>

namespace jobq {

// A log-linear histogram of non-negative durations in microseconds, in the
// manner of HdrHistogram: values below 16 are exact; above, each power of
// two is split into 16 buckets, so a quantile is within 1/16 (6.25%) of the
// true value. Fixed size (about 8 KiB); recording is O(1).
// Thread: one owner.
class Histogram {
 public:
  void Record(int64_t value);
  // Records `value` `times` times (a bucket read from another histogram).
  void Record(int64_t value, uint64_t times);
  // The smallest recorded bucket bound b such that at least q of the values
  // are <= b; 0 when empty. q in [0, 1].
  int64_t Quantile(double q) const;
  int64_t Max() const { return max_; }
  uint64_t Count() const { return count_; }
  // Sum of the recorded values.
  int64_t Sum() const { return sum_; }
  // How many recorded values are at most `bound` (exact for bounds that are
  // bucket edges, such as powers of two and small integers; otherwise up to
  // one bucket off).
  uint64_t CountAtOrBelow(int64_t bound) const;
  void Merge(const Histogram& other);
  // Calls fn(upper_bound, count) for each bucket that holds values, in
  // increasing order: enough to rebuild the histogram with Record(v, n).
  template <typename Fn>
  void ForEachBucket(Fn&& fn) const {
    for (int b = 0; b < kBuckets; ++b) {
      if (counts_[b] != 0) fn(UpperBound(b), counts_[b]);
    }
  }
  // The difference of two snapshots of one histogram (this one later):
  // what was recorded in between. Max is this one's.
  Histogram Since(const Histogram& earlier) const;

 private:
  friend class ConcurrentHistogram;
  static constexpr int kSubBits = 4;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;
  static int BucketOf(uint64_t v);
  static int64_t UpperBound(int bucket);

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  int64_t max_ = 0;
  int64_t sum_ = 0;
};

}  // namespace jobq
