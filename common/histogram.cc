#include "common/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace jobq {

int Histogram::BucketOf(uint64_t v) {
  if (v < kSub) return static_cast<int>(v);
  int msb = 63 - std::countl_zero(v);  // >= kSubBits
  int shift = msb - kSubBits;
  int sub = static_cast<int>((v >> shift) & (kSub - 1));
  return (shift + 1) * kSub + sub;
}

int64_t Histogram::UpperBound(int bucket) {
  if (bucket < kSub) return bucket;
  int shift = bucket / kSub - 1;
  uint64_t sub = bucket % kSub;
  uint64_t low = (uint64_t{kSub} | sub) << shift;
  return static_cast<int64_t>(low + (uint64_t{1} << shift) - 1);
}

void Histogram::Record(int64_t value) {
  value = std::max<int64_t>(0, value);
  ++counts_[BucketOf(static_cast<uint64_t>(value))];
  ++count_;
  sum_ += value;
  max_ = std::max(max_, value);
}

void Histogram::Record(int64_t value, uint64_t times) {
  if (times == 0) return;
  value = std::max<int64_t>(0, value);
  counts_[BucketOf(static_cast<uint64_t>(value))] += times;
  count_ += times;
  sum_ += value * static_cast<int64_t>(times);
  max_ = std::max(max_, value);
}

Histogram Histogram::Since(const Histogram& earlier) const {
  Histogram d;
  for (int b = 0; b < kBuckets; ++b) {
    d.counts_[b] = counts_[b] - std::min(counts_[b], earlier.counts_[b]);
  }
  d.count_ = count_ - std::min(count_, earlier.count_);
  d.sum_ = sum_ - earlier.sum_;
  // The highest bucket recorded in between; the exact max is known only
  // when it lies in that bucket.
  for (int b = kBuckets - 1; b >= 0; --b) {
    if (d.counts_[b] != 0) {
      d.max_ = std::min(UpperBound(b), max_);
      break;
    }
  }
  return d;
}

uint64_t Histogram::CountAtOrBelow(int64_t bound) const {
  if (bound < 0) return 0;
  uint64_t n = 0;
  for (int b = 0; b < kBuckets && UpperBound(b) <= bound; ++b) n += counts_[b];
  return n;
}

int64_t Histogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * count_));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += counts_[b];
    if (seen >= rank) return std::min(UpperBound(b), max_);
  }
  return max_;
}

void Histogram::Merge(const Histogram& other) {
  for (int b = 0; b < kBuckets; ++b) counts_[b] += other.counts_[b];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

}  // namespace jobq
