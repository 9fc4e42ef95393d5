#include "events/event_hub.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace jobq::events {
namespace {

void EraseId(std::vector<EventHub::SubscriptionId>& v,
             EventHub::SubscriptionId id) {
  v.erase(std::remove(v.begin(), v.end(), id), v.end());
}

}  // namespace

void EventHub::Configure(Options options) {
  options_ = options;
  if (options_.flush_thread && flusher_ == nullptr) {
    flusher_ = std::make_unique<StreamFlusher>(options_.hops);
  }
}

EventHub::SubscriptionId EventHub::Subscribe(
    std::shared_ptr<EventStream> stream) {
  SubscriptionId id = next_id_++;
  subs_[id].stream = std::move(stream);
  return id;
}

void EventHub::WatchJob(SubscriptionId id, const core::Job& job,
                        StateMask states) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  if (!core::IsTerminal(job.state) &&
      it->second.jobs.emplace(job.seq, states).second) {
    by_job_[job.seq].push_back(id);
  }
  if (MaskHas(states, job.state)) {
    v1::JobEvent event;
    core::ToEvent(job, job.state, &event);
    Deliver(id, it->second, SingleEvent(std::move(event)));
  }
  DropDoomed();
}

void EventHub::WatchQueue(SubscriptionId id, const std::string& queue,
                          const core::Scheduler& scheduler, StateMask states) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  Subscription& sub = it->second;
  sub.queue = queue;
  sub.queue_states = states;
  by_queue_[queue].push_back(id);
  // This turn's earlier events of the queue are in the states below.
  auto turn = turn_.find(queue);
  sub.queue_from = turn == turn_.end() ? 0 : turn->second->size();
  auto current = std::make_shared<EventBatch>();
  v1::JobEvent event;
  scheduler.ForEachUnfinished(queue, states, [&](const core::Job& job) {
    event.Clear();
    core::ToEvent(job, job.state, &event);
    current->Add(std::move(event));
  });
  if (!current->empty()) {
    size_t n = current->size();
    Deliver(id, sub, EventSlice{std::move(current), 0, n, kAllStates});
  }
  DropDoomed();
}

void EventHub::CloseWhenDone(SubscriptionId id) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  Subscription& sub = it->second;
  sub.close_when_done = true;
  if (sub.jobs.empty() && sub.queue.empty()) {
    sub.stream->Close(grpc::Status::OK);
    Drop(id);
  }
}

void EventHub::Unsubscribe(SubscriptionId id) { Drop(id); }

void EventHub::OnJobEvent(const core::Job& job, v1::JobState state) {
  if (!by_job_.contains(job.seq) && !by_queue_.contains(job.queue())) {
    return;
  }
  v1::JobEvent event;
  core::ToEvent(job, state, &event);
  Publish(job, std::move(event),
          core::IsTerminal(job.state) && state == job.state);
}

void EventHub::OnJobProgress(const core::Job& job,
                             const v1::Progress& progress) {
  if (!by_job_.contains(job.seq) && !by_queue_.contains(job.queue())) {
    return;
  }
  v1::JobEvent event;
  core::ToEvent(job, v1::JOB_STATE_RUNNING, &event);
  *event.mutable_progress() = progress;
  Publish(job, std::move(event), false);
}

void EventHub::Publish(const core::Job& job, v1::JobEvent&& event, bool ended) {
  v1::JobState state = event.state();
  if (auto by_job = by_job_.find(job.seq); by_job != by_job_.end()) {
    EventSlice single;
    // Copies: delivery may drop subscriptions and so edit this list.
    std::vector<SubscriptionId> targets = by_job->second;
    for (SubscriptionId id : targets) {
      auto it = subs_.find(id);
      if (it == subs_.end()) continue;
      Subscription& sub = it->second;
      auto j = sub.jobs.find(job.seq);
      if (j == sub.jobs.end()) continue;
      // A stream that also watches the queue gets these from its batch.
      StateMask states = j->second;
      if (sub.queue == job.queue()) states &= ~sub.queue_states;
      if (MaskHas(states, state)) {
        if (single.batch == nullptr) single = SingleEvent(event);
        Deliver(id, sub, single);
      }
      if (ended) {
        sub.jobs.erase(j);
        if (sub.close_when_done && sub.jobs.empty() && sub.queue.empty()) {
          sub.stream->Close(grpc::Status::OK);
          doomed_.push_back(id);
        }
      }
    }
    if (ended) by_job_.erase(job.seq);
  }
  if (by_queue_.contains(job.queue())) {
    auto& batch = turn_[job.queue()];
    if (batch == nullptr) batch = std::make_shared<EventBatch>();
    batch->Add(std::move(event));
  }
  DropDoomed();
}

void EventHub::Deliver(SubscriptionId id, Subscription& sub,
                       const EventSlice& slice) {
  if (sub.stream->AddEvents(slice)) {
    dirty_.insert(id);
  } else {
    // Overflowed or ending: the stream finishes itself.
    sub.stream->Flush();
    doomed_.push_back(id);
  }
}

void EventHub::DropDoomed() {
  for (SubscriptionId d : doomed_) Drop(d);
  doomed_.clear();
}

void EventHub::Drop(SubscriptionId id) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  Subscription& sub = it->second;
  for (const auto& [seq, states] : sub.jobs) {
    auto j = by_job_.find(seq);
    if (j == by_job_.end()) continue;
    EraseId(j->second, id);
    if (j->second.empty()) by_job_.erase(j);
  }
  if (!sub.queue.empty()) {
    auto q = by_queue_.find(sub.queue);
    if (q != by_queue_.end()) {
      EraseId(q->second, id);
      if (q->second.empty()) by_queue_.erase(q);
    }
  }
  // Flush so that a Close() requested earlier reaches the stream.
  sub.stream->Flush();
  dirty_.erase(id);
  subs_.erase(it);
}

void EventHub::EnforceBudget() {
  StreamBudget* budget = options_.budget;
  if (budget == nullptr || !budget->over()) return;
  std::vector<std::pair<size_t, SubscriptionId>> by_size;
  by_size.reserve(subs_.size());
  for (const auto& [id, sub] : subs_) {
    by_size.emplace_back(sub.stream->unsent_bytes(), id);
  }
  std::sort(by_size.begin(), by_size.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  size_t used = budget->used();
  grpc::Status status(
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      absl::StrCat("stream consumer too slow: the buffers of all streams "
                   "hold more than --max-stream-memory (",
                   budget->max_bytes(),
                   " bytes) and this stream had the most unsent; reconnect "
                   "and read faster"));
  for (const auto& [bytes, id] : by_size) {
    if (used <= budget->max_bytes() || bytes == 0) break;
    used -= std::min(used, bytes);
    subs_[id].stream->CutOff(status);
    budget->cut_memory.fetch_add(1, std::memory_order_relaxed);
    doomed_.push_back(id);
  }
  DropDoomed();
}

void EventHub::MarkDirty(SubscriptionId id) {
  if (subs_.contains(id)) dirty_.insert(id);
}

void EventHub::FlushAll() {
  for (auto& [queue, batch] : turn_) {
    auto q = by_queue_.find(queue);
    if (q == by_queue_.end()) continue;
    std::shared_ptr<const EventBatch> shared = std::move(batch);
    for (SubscriptionId id : q->second) {
      Subscription& sub = subs_.find(id)->second;
      size_t from = sub.queue_from;
      sub.queue_from = 0;
      if (from >= shared->size()) continue;
      Deliver(id, sub,
              EventSlice{shared, from, shared->size(), sub.queue_states});
    }
    // Not DropDoomed() here: it would edit q->second.
  }
  turn_.clear();
  DropDoomed();
  EnforceBudget();
  bool shrunk = options_.budget != nullptr && options_.budget->TakeShrunk();
  // A few streams are written from here: a hand-off to the flush thread
  // costs a wake-up and a thread switch, more than their writes on 2 cores,
  // and would sit in every event's latency. Many go to the flush thread, so
  // that watchers cannot hold the core.
  if (flusher_ != nullptr &&
      (dirty_.size() > options_.inline_flush_max || shrunk)) {
    std::vector<std::shared_ptr<EventStream>> streams;
    streams.reserve(dirty_.size());
    for (SubscriptionId id : dirty_) {
      auto it = subs_.find(id);
      if (it != subs_.end()) streams.push_back(it->second.stream);
    }
    if (!streams.empty() || shrunk) flusher_->Post(std::move(streams), shrunk);
  } else {
    for (SubscriptionId id : dirty_) {
      auto it = subs_.find(id);
      if (it != subs_.end()) it->second.stream->Flush();
    }
  }
  dirty_.clear();
}

void EventHub::CloseAll(const grpc::Status& status) {
  for (auto& [id, sub] : subs_) sub.stream->Close(status);
  subs_.clear();
  by_job_.clear();
  by_queue_.clear();
  turn_.clear();
  dirty_.clear();
}

}  // namespace jobq::events
