#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "jobq/v1/jobq.pb.h"

namespace jobq::events {

// A set of v1::JobState values, one bit each.
using StateMask = uint32_t;
inline constexpr StateMask kAllStates = ~StateMask{0};

inline bool MaskHas(StateMask mask, v1::JobState state) {
  return (mask & (StateMask{1} << state)) != 0;
}

// Job events built once on the core and then shared, immutable, by every
// stream that carries them: the events of one queue in one core turn, or a
// single event for the streams that watch one job. A stream holds a slice of
// a batch, not a copy, and its outgoing message points at the batch's
// events (see Outbound), so a watcher costs the same whatever the event.
//
// Each event is charged to a stream's buffer as its encoded size plus
// kEventOverhead, about what a JobEvent object and its parts take in memory;
// a batch shared by many streams is thus charged to each, so the charges
// bound the memory from above.
// Thread: filled on the core; read from any thread once shared (after the
// last Add, nothing is written again).
class EventBatch {
 public:
  static constexpr size_t kEventOverhead = 192;

  // Appends `event` (moved in). Not once the batch is shared.
  void Add(v1::JobEvent&& event) {
    size_t charge = event.ByteSizeLong() + kEventOverhead;
    events_.push_back(std::move(event));
    charged_.push_back((charged_.empty() ? 0 : charged_.back()) + charge);
  }

  size_t size() const { return events_.size(); }
  bool empty() const { return events_.empty(); }
  const v1::JobEvent& at(size_t i) const { return events_[i]; }

  // Events of [begin, end) whose state is in `mask`, and their charge.
  // Constant time for all states; otherwise a walk of the range.
  std::pair<size_t, size_t> Measure(size_t begin, size_t end,
                                    StateMask mask) const {
    if (begin >= end) return {0, 0};
    if (mask == kAllStates) return {end - begin, Charged(end) - Charged(begin)};
    size_t items = 0, bytes = 0;
    for (size_t i = begin; i < end; ++i) {
      if (!MaskHas(mask, events_[i].state())) continue;
      ++items;
      bytes += Charged(i + 1) - Charged(i);
    }
    return {items, bytes};
  }

 private:
  // The charge of the first `n` events.
  size_t Charged(size_t n) const { return n == 0 ? 0 : charged_[n - 1]; }

  std::vector<v1::JobEvent> events_;
  std::vector<size_t> charged_;  // Running totals.
};

// Part of a batch that one stream carries: the events of [begin, end) whose
// state is in `mask`.
struct EventSlice {
  std::shared_ptr<const EventBatch> batch;
  size_t begin = 0;
  size_t end = 0;
  StateMask mask = kAllStates;
};

// A slice of one event, for the callers that have just one.
inline EventSlice SingleEvent(v1::JobEvent event) {
  auto batch = std::make_shared<EventBatch>();
  batch->Add(std::move(event));
  return EventSlice{std::move(batch), 0, 1, kAllStates};
}

}  // namespace jobq::events
