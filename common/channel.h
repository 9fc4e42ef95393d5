#pragma once

#include <uv.h>

#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "common/latency_hops.h"

namespace jobq {

// The one cross-thread hand-off of jobq: any thread posts items; the loop
// that owns the channel receives them in batches. Sends to a uv_async_t
// coalesce, so the callback drains everything queued so far in one go, and a
// producer wakes the loop only when it finds the queue empty.
//
// Given a LatencyHops, the channel times every post from the moment it was
// made to the moment the owner takes it (one clock read per post and per
// drain), as the hop it was given.
//
// Thread: Post() from any thread; construction, Close() and the handler run
// on the owning loop's thread. Items posted after Close() are dropped and
// Post() returns false. The channel must outlive its loop's close callbacks.
template <typename T>
class Channel {
 public:
  using Handler = std::function<void(std::vector<T>& batch)>;

  Channel(uv_loop_t* loop, Handler handler, LatencyHops* hops = nullptr,
          Hop hop = Hop::kReceive)
      : handler_(std::move(handler)), hops_(hops), hop_(hop) {
    uv_async_init(loop, &async_, &Channel::OnAsync);
    async_.data = this;
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  bool Post(T item) { return TryPost(item); }

  // As Post, but `item` is left untouched when the channel is closed, so
  // that the caller can still answer what it carried.
  bool TryPost(T& item) {
    int64_t now = hops_ != nullptr ? HopNowUs() : 0;
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (hops_ != nullptr) posted_at_.push_back(now);
    pending_.push_back(std::move(item));
    if (pending_.size() == 1) uv_async_send(&async_);
    return true;
  }

  bool PostMany(std::vector<T>&& items) {
    if (items.empty()) return true;
    int64_t now = hops_ != nullptr ? HopNowUs() : 0;
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (hops_ != nullptr) posted_at_.push_back(now);
    bool wake = pending_.empty();
    if (wake && items.size() > 0) {
      pending_.swap(items);
    } else {
      for (auto& item : items) pending_.push_back(std::move(item));
    }
    items.clear();
    if (wake) uv_async_send(&async_);
    return true;
  }

  // Stops accepting items and closes the async handle. Items still queued
  // are delivered to the handler first.
  void Close() {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
    }
    Drain();
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  }

 private:
  static void OnAsync(uv_async_t* handle) {
    static_cast<Channel*>(handle->data)->Drain();
  }

  // A local batch, so that a handler may Post() or even Close() this
  // channel while it runs.
  void Drain() {
    std::vector<T> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(pending_);
      if (hops_ != nullptr) stamps_.swap(posted_at_);
    }
    if (!stamps_.empty()) {
      int64_t now = HopNowUs();
      for (int64_t at : stamps_) hops_->Record(hop_, now - at);
      stamps_.clear();
    }
    if (!batch.empty()) handler_(batch);
  }

  Handler handler_;
  LatencyHops* const hops_;  // May be null: no timing.
  const Hop hop_;
  std::vector<int64_t> stamps_;  // Owner's thread: the drained posts' times.
  uv_async_t async_;
  std::mutex mu_;
  bool closed_ = false;     // Guarded by mu_.
  std::vector<T> pending_;  // Guarded by mu_.
  // When each post since the last drain was made (with hops_ only).
  std::vector<int64_t> posted_at_;  // Guarded by mu_.
};

}  // namespace jobq
