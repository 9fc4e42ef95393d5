#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace jobq::events {

// The memory of all stream buffers together (--max-stream-memory): every
// Outbound that has one charges what it holds, until written, to it. The
// EventHub checks it once per core turn and, past the cap, cuts the streams
// with the most unsent bytes first.
// Thread: any (atomics only).
class StreamBudget {
 public:
  explicit StreamBudget(size_t max_bytes = 256 << 20) : max_(max_bytes) {}

  // Before any stream uses the budget.
  void set_max_bytes(size_t max_bytes) { max_ = max_bytes; }
  size_t max_bytes() const { return max_; }
  size_t used() const { return used_.load(std::memory_order_relaxed); }
  bool over() const { return used() > max_; }

  void Charge(size_t bytes) {
    size_t now = used_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    size_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak &&
           !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  void Release(size_t bytes) {
    used_.fetch_sub(bytes, std::memory_order_relaxed);
  }

  // True once each time the buffers, having held at least 16 MiB, have
  // shrunk to a quarter of that mark: the moment to hand freed memory back
  // to the system.
  bool TakeShrunk() {
    size_t peak = peak_.load(std::memory_order_relaxed);
    size_t now = used();
    if (peak < (16u << 20) || now > peak / 4) return false;
    return peak_.compare_exchange_strong(peak, now, std::memory_order_relaxed);
  }

  // Streams cut off for being too slow: by their own bound, by this cap.
  std::atomic<uint64_t> cut_slow{0};
  std::atomic<uint64_t> cut_memory{0};

 private:
  size_t max_;
  std::atomic<size_t> used_{0};
  std::atomic<size_t> peak_{0};
};

}  // namespace jobq::events
