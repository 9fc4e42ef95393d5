#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/scheduler.h"
#include "events/event_batch.h"
#include "events/event_stream.h"
#include "events/stream_budget.h"
#include "events/stream_flusher.h"

namespace jobq::events {

// Routes job events to the streams that watch them: by job, or by queue.
// A subscription delivers a watched job's current state first, on the same
// thread that applies transitions, so nothing falls between a submit and
// its watch.
//
// The cost of a watcher to the core is kept constant per turn, not per
// event: each event is built once; a queue's events of one core turn are
// collected into one shared EventBatch and, at the end of the turn
// (FlushAll), each watcher of the queue takes a slice of it. Events of jobs
// watched by id go out at once, one shared event for all their watchers.
// The writes themselves are started by a StreamFlusher thread when one is
// configured. Once a turn, past the StreamBudget's cap, the streams with the
// most unsent bytes are cut off with RESOURCE_EXHAUSTED.
// Thread: core loop only.
class EventHub final : public core::JobObserver {
 public:
  using SubscriptionId = uint64_t;
  using StateMask = events::StateMask;
  static constexpr StateMask kAllStates = events::kAllStates;
  // The mask of `states`; all states when empty.
  template <typename Container>
  static StateMask MaskOf(const Container& states) {
    if (states.empty()) return kAllStates;
    StateMask mask = 0;
    for (int s : states) mask |= StateMask{1} << s;
    return mask;
  }

  struct Options {
    // All streams' buffers together; null: no cap. Must outlive the hub.
    StreamBudget* budget = nullptr;
    // Start writes on a thread of the hub's own instead of the core, for
    // turns that wrote to more than `inline_flush_max` streams (the core
    // starts the writes of fewer itself: latency).
    bool flush_thread = false;
    size_t inline_flush_max = 8;
    // Times the flush thread's hand-overs; null: not timed.
    LatencyHops* hops = nullptr;
  };

  EventHub() = default;
  explicit EventHub(Options options) { Configure(options); }
  // Before the first subscription.
  void Configure(Options options);

  SubscriptionId Subscribe(std::shared_ptr<EventStream> stream);
  // Watches one job, delivering events of the states in `states`; its
  // current state is delivered now. A job that has already ended delivers
  // its final event and counts as done.
  void WatchJob(SubscriptionId id, const core::Job& job,
                StateMask states = kAllStates);
  // Watches every job of `queue`; the current state of each unfinished job
  // of the queue is delivered now, and the queue's events from now on at
  // the end of each turn.
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

  // The end of a turn: hands the queues' events to their watchers, cuts
  // the slowest streams if the budget is exceeded, and starts the writes
  // of every stream that received something.
  void FlushAll();
  // Something was added to the stream of `id` directly (an ack): it is
  // written with this turn's events, at FlushAll, in one message with
  // them when they fit.
  void MarkDirty(SubscriptionId id);
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
    // Where this turn's batch of the queue starts for it (it subscribed
    // after those events).
    size_t queue_from = 0;
  };

  // Delivers `event` of `job`: at once to its watchers by id, and into
  // the queue's batch for this turn.
  void Publish(const core::Job& job, v1::JobEvent&& event, bool ended);
  // Queues `slice` on the stream; a stream that refuses is doomed.
  void Deliver(SubscriptionId id, Subscription& sub, const EventSlice& slice);
  // Past the budget: cuts the streams with the most unsent bytes.
  void EnforceBudget();
  void DropDoomed();
  void Drop(SubscriptionId id);

  Options options_;
  std::unique_ptr<StreamFlusher> flusher_;
  absl::flat_hash_map<SubscriptionId, Subscription> subs_;
  absl::flat_hash_map<uint64_t, std::vector<SubscriptionId>> by_job_;
  absl::flat_hash_map<std::string, std::vector<SubscriptionId>> by_queue_;
  // This turn's events of each watched queue.
  absl::flat_hash_map<std::string, std::shared_ptr<EventBatch>> turn_;
  absl::flat_hash_set<SubscriptionId> dirty_;
  std::vector<SubscriptionId> doomed_;  // Dropped after the current event.
  SubscriptionId next_id_ = 1;
};

}  // namespace jobq::events
