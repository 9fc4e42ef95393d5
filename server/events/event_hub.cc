#include "events/event_hub.h"

#include <algorithm>

namespace jobq::events {
namespace {

void EraseId(std::vector<EventHub::SubscriptionId>& v,
             EventHub::SubscriptionId id) {
  v.erase(std::remove(v.begin(), v.end(), id), v.end());
}

}  // namespace

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
  v1::JobEvent event;
  core::ToEvent(job, job.state, &event);
  if (!core::IsTerminal(job.state) &&
      it->second.jobs.emplace(job.seq, states).second) {
    by_job_[job.seq].push_back(id);
  }
  Deliver(id, it->second, event, states);
  for (SubscriptionId d : doomed_) Drop(d);
  doomed_.clear();
}

void EventHub::WatchQueue(SubscriptionId id, const std::string& queue,
                          const core::Scheduler& scheduler, StateMask states) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  it->second.queue = queue;
  it->second.queue_states = states;
  by_queue_[queue].push_back(id);
  v1::JobEvent event;
  for (const core::Job& job : scheduler.jobs()) {
    if (job.queue() != queue || core::IsTerminal(job.state)) continue;
    event.Clear();
    core::ToEvent(job, job.state, &event);
    Deliver(id, it->second, event, states);
    if (!doomed_.empty()) break;
  }
  for (SubscriptionId d : doomed_) Drop(d);
  doomed_.clear();
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
  Publish(job, event, core::IsTerminal(job.state) && state == job.state);
}

void EventHub::OnJobProgress(const core::Job& job,
                             const v1::Progress& progress) {
  if (!by_job_.contains(job.seq) && !by_queue_.contains(job.queue())) {
    return;
  }
  v1::JobEvent event;
  core::ToEvent(job, v1::JOB_STATE_RUNNING, &event);
  *event.mutable_progress() = progress;
  Publish(job, event, false);
}

void EventHub::Publish(const core::Job& job, const v1::JobEvent& event,
                       bool ended) {
  auto by_job = by_job_.find(job.seq);
  auto by_queue = by_queue_.find(job.queue());
  // Copies: delivery may drop subscriptions and so edit these lists.
  std::vector<SubscriptionId> targets;
  if (by_job != by_job_.end()) targets = by_job->second;
  if (by_queue != by_queue_.end()) {
    for (SubscriptionId id : by_queue->second) {
      if (std::find(targets.begin(), targets.end(), id) == targets.end()) {
        targets.push_back(id);
      }
    }
  }
  for (SubscriptionId id : targets) {
    auto it = subs_.find(id);
    if (it == subs_.end()) continue;
    Subscription& sub = it->second;
    StateMask states = sub.queue == job.queue() ? sub.queue_states : 0;
    if (auto j = sub.jobs.find(job.seq); j != sub.jobs.end()) {
      states |= j->second;
    }
    Deliver(id, sub, event, states);
    if (ended && it->second.jobs.erase(job.seq) > 0) {
      if (it->second.close_when_done && it->second.jobs.empty() &&
          it->second.queue.empty()) {
        it->second.stream->Close(grpc::Status::OK);
        doomed_.push_back(id);
      }
    }
  }
  if (ended) by_job_.erase(job.seq);
  for (SubscriptionId d : doomed_) Drop(d);
  doomed_.clear();
}

void EventHub::Deliver(SubscriptionId id, Subscription& sub,
                       const v1::JobEvent& event, StateMask states) {
  if ((states & (StateMask{1} << event.state())) == 0) return;
  if (sub.stream->AddEvent(event)) {
    dirty_.insert(id);
  } else {
    // Overflowed or ending: the stream finishes itself.
    sub.stream->Flush();
    doomed_.push_back(id);
  }
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

void EventHub::FlushAll() {
  for (SubscriptionId id : dirty_) {
    auto it = subs_.find(id);
    if (it != subs_.end()) it->second.stream->Flush();
  }
  dirty_.clear();
}

void EventHub::CloseAll(const grpc::Status& status) {
  for (auto& [id, sub] : subs_) sub.stream->Close(status);
  subs_.clear();
  by_job_.clear();
  by_queue_.clear();
  dirty_.clear();
}

}  // namespace jobq::events
