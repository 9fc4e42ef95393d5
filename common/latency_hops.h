#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "common/concurrent_histogram.h"

namespace jobq {

// The hops a job takes through jobqd, each timed as it happens, so that the
// latency from submit to completion can be taken apart (`jobq-bench latency
// --breakdown`, the jobq_hop_seconds metric). A hop is a hand-off between
// threads (the time an item waits before its new owner takes it) or a
// stretch of work on one thread. In the order a job meets them:
enum class Hop : int {
  kReceive,   // A gRPC reaction posted to the core: until the core runs it.
  kLog,       // A batch of transitions committed by the core: until the
              // core learns it is durable (write, fdatasync, report).
  kDispatch,  // Jobs handed to a worker loop: until the loop takes them.
  kRun,       // A built-in or command run on its worker loop.
  kResult,    // Results handed back by a worker loop: until the core has
              // them.
  kFlush,     // Streams handed to the flush thread: until it writes them
              // (only when a turn has more streams than it writes itself).
  kQueued,    // An ack or event queued on a stream: until its write starts
              // (a stream has one write in flight at a time).
  kWrite,     // A stream message given to gRPC: until gRPC reports it
              // written.
  kTurn,      // One turn of the core loop (its tasks or results, then the
              // pump): what an item waits behind on the core.
  kCount,
};

struct HopInfo {
  std::string_view name;
  std::string_view help;
};
const HopInfo& InfoOf(Hop hop);

// Microseconds on a monotonic clock shared by all threads (and, on Linux,
// by all processes of the machine). Only for measuring: logic takes time
// from a Clock.
inline int64_t HopNowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One histogram per hop, in microseconds.
// Thread: Record from any thread; Snapshot from any.
class LatencyHops {
 public:
  void Record(Hop hop, int64_t us) { hops_[static_cast<int>(hop)].Record(us); }
  // Records the time since `since_us` (a HopNowUs() reading).
  void Since(Hop hop, int64_t since_us) { Record(hop, HopNowUs() - since_us); }
  Histogram Snapshot(Hop hop) const {
    return hops_[static_cast<int>(hop)].Snapshot();
  }

 private:
  std::array<ConcurrentHistogram, static_cast<int>(Hop::kCount)> hops_;
};

}  // namespace jobq
