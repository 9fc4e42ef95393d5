#include "events/stream_flusher.h"

#include <pthread.h>

#include "common/process.h"

namespace jobq::events {

StreamFlusher::StreamFlusher(LatencyHops* hops)
    : hops_(hops), thread_([this] { Run(); }) {}

StreamFlusher::~StreamFlusher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void StreamFlusher::Post(std::vector<std::shared_ptr<EventStream>>&& streams,
                         bool release_memory) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    wake = queued_.empty() && !release_;
    if (hops_ != nullptr && queued_.empty()) posted_us_ = HopNowUs();
    if (queued_.empty()) {
      queued_ = std::move(streams);
    } else {
      for (auto& s : streams) queued_.push_back(std::move(s));
    }
    release_ = release_ || release_memory;
  }
  if (wake) cv_.notify_one();
}

void StreamFlusher::Run() {
  pthread_setname_np(pthread_self(), "jobq-flush");
  std::vector<std::shared_ptr<EventStream>> batch;
  while (true) {
    bool release;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queued_.empty() || release_; });
      if (queued_.empty() && !release_ && stop_) return;
      if (hops_ != nullptr && !queued_.empty()) {
        hops_->Since(Hop::kFlush, posted_us_);
      }
      batch.swap(queued_);
      release = release_;
      release_ = false;
    }
    for (auto& s : batch) s->Flush();
    batch.clear();
    if (release) ReleaseFreeMemory();
  }
}

}  // namespace jobq::events
