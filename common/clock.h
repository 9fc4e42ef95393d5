#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace jobq {

// Microseconds since the Unix epoch: the one time type of the core, so that
// transitions carry plain integers and tests can choose every instant.
using TimeUs = int64_t;
using DurationUs = int64_t;

inline constexpr DurationUs kMillisecond = 1000;
inline constexpr DurationUs kSecond = 1000 * kMillisecond;

// Where wall-clock time comes from. The core never reads a clock itself: the
// loop that drives it asks a Clock and passes `now` in.
// Thread: any (implementations are thread-safe).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeUs Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimeUs Now() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to. For tests.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimeUs start = 1'700'000'000 * kSecond) : now_(start) {}
  TimeUs Now() const override { return now_.load(); }
  void Set(TimeUs t) { now_.store(t); }
  void Advance(DurationUs d) { now_.fetch_add(d); }

 private:
  std::atomic<TimeUs> now_;
};

}  // namespace jobq
