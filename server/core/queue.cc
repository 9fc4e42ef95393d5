#include "core/queue.h"

namespace jobq::core {

void RateWindow::Add(TimeUs now, uint64_t n) {
  int64_t sec = now / kSecond;
  size_t i = static_cast<size_t>(sec % kSeconds);
  if (second_[i] != sec) {
    second_[i] = sec;
    counts_[i] = 0;
  }
  counts_[i] += n;
}

double RateWindow::PerSecond(TimeUs now) const {
  int64_t sec = now / kSecond;
  uint64_t total = 0;
  // The current second is incomplete: count the kSeconds before it.
  for (int i = 0; i < kSeconds; ++i) {
    if (second_[i] < sec && second_[i] >= sec - kSeconds) total += counts_[i];
  }
  return static_cast<double>(total) / kSeconds;
}

}  // namespace jobq::core
