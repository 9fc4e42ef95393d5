#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/latency_hops.h"
#include "events/event_stream.h"

namespace jobq::events {

// Starts the writes of streams on a thread of its own, so that building
// and handing messages to gRPC (about 10 µs a write) is not done by the
// core, whatever the number of watchers. The core hands it one batch of
// streams per turn; a stream handed twice before its turn comes is flushed
// twice, which costs nothing (Flush is a no-op while a write is in flight).
// It also hands freed memory back to the system when told to, since that
// can take milliseconds.
// Given `hops`, times each hand-over (Hop::kFlush).
// Thread: Post from the core; the streams' Flush on its own thread.
class StreamFlusher {
 public:
  explicit StreamFlusher(LatencyHops* hops = nullptr);
  ~StreamFlusher();  // Flushes what was posted, then joins.
  StreamFlusher(const StreamFlusher&) = delete;
  StreamFlusher& operator=(const StreamFlusher&) = delete;

  void Post(std::vector<std::shared_ptr<EventStream>>&& streams,
            bool release_memory);

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<EventStream>> queued_;  // Guarded by mu_.
  bool release_ = false;                              // Guarded by mu_.
  bool stop_ = false;                                 // Guarded by mu_.
  int64_t posted_us_ = 0;  // Guarded by mu_: the oldest post queued.
  LatencyHops* const hops_;
  std::thread thread_;
};

}  // namespace jobq::events
