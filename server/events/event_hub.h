#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/scheduler.h"
#include "events/event_stream.h"

namespace jobq::events {

// Routes job events to the streams that watch them: by job, or by queue.
// A subscription delivers a watched job's current state first, on the same
// thread that applies transitions, so nothing falls between a submit and
// its watch. Events of one core turn are packed: streams are flushed once,
// at the end of the turn.
// Thread: core loop only.
class EventHub final : public core::JobObserver {
 public:
  using SubscriptionId = uint64_t;
  // A set of v1::JobState values, one bit each.
  using StateMask = uint32_t;
  static constexpr StateMask kAllStates = ~StateMask{0};
  // The mask of `states`; all states when empty.
  template <typename Container>
  static StateMask MaskOf(const Container& states) {
    if (states.empty()) return kAllStates;
    StateMask mask = 0;
    for (int s : states) mask |= StateMask{1} << s;
    return mask;
  }

  SubscriptionId Subscribe(std::shared_ptr<EventStream> stream);
  // Watches one job, delivering events of the states in `states`; its
  // current state is delivered now. A job that has already ended delivers
  // its final event and counts as done.
  void WatchJob(SubscriptionId id, const core::Job& job,
                StateMask states = kAllStates);
  // Watches every job of `queue`; the current state of each unfinished job
  // of the queue is delivered now.
  void WatchQueue(SubscriptionId id, const std::string& queue,
                  const core::Scheduler& scheduler,
                  StateMask states = kAllStates);
  // From now on, ends the stream with OK once every job it watches by id has
  // ended (at once if they all have). Not for queue watches.
  void CloseWhenDone(SubscriptionId id);
  void Unsubscribe(SubscriptionId id);

  void OnJobEvent(const core::Job& job, v1::JobState state) override;
  // Delivered to streams that watch the job's RUNNING events.
  void OnJobProgress(const core::Job& job,
                     const v1::Progress& progress) override;

  // Starts the writes of every stream that received something this turn.
  void FlushAll();
  // Ends every stream with `status` (shutdown).
  void CloseAll(const grpc::Status& status);

  size_t size() const { return subs_.size(); }
  // Streams watching `queue` now.
  size_t QueueWatchers(const std::string& queue) const {
    auto it = by_queue_.find(queue);
    return it == by_queue_.end() ? 0 : it->second.size();
  }

 private:
  struct Subscription {
    std::shared_ptr<EventStream> stream;
    bool close_when_done = false;
    // Watched by id, not yet ended, with the states to deliver.
    absl::flat_hash_map<uint64_t, StateMask> jobs;
    std::string queue;  // Watched queue, if any.
    StateMask queue_states = 0;
  };

  // Delivers `event` of `job` to its watchers; `ended`: the job's last.
  void Publish(const core::Job& job, const v1::JobEvent& event, bool ended);
  // Delivers `event` if `states` holds its state.
  void Deliver(SubscriptionId id, Subscription& sub, const v1::JobEvent& event,
               StateMask states);
  void Drop(SubscriptionId id);

  absl::flat_hash_map<SubscriptionId, Subscription> subs_;
  absl::flat_hash_map<uint64_t, std::vector<SubscriptionId>> by_job_;
  absl::flat_hash_map<std::string, std::vector<SubscriptionId>> by_queue_;
  absl::flat_hash_set<SubscriptionId> dirty_;
  std::vector<SubscriptionId> doomed_;  // Dropped after the current event.
  SubscriptionId next_id_ = 1;
};

}  // namespace jobq::events
