#include "core/job_list.h"

#include <algorithm>

#include "core/scheduler.h"

namespace jobq::core {
namespace {

using IdSet = absl::btree_set<uint64_t>;

// The union of disjoint id sets, walked in id order: a k-way merge of
// their heads, from the first id after a given one.
class MergedIds {
 public:
  void Add(const IdSet& ids, uint64_t after) {
    auto it = ids.upper_bound(after);
    if (it == ids.end()) return;
    heads_.push_back({it, ids.end()});
    std::push_heap(heads_.begin(), heads_.end(), Later);
  }
  bool done() const { return heads_.empty(); }
  uint64_t front() const { return *heads_.front().it; }
  void Pop() {
    std::pop_heap(heads_.begin(), heads_.end(), Later);
    Head& head = heads_.back();
    if (++head.it == head.end) {
      heads_.pop_back();
    } else {
      std::push_heap(heads_.begin(), heads_.end(), Later);
    }
  }

 private:
  struct Head {
    IdSet::const_iterator it;
    IdSet::const_iterator end;
  };
  // The heap's top is the smallest head.
  static bool Later(const Head& a, const Head& b) { return *a.it > *b.it; }
  std::vector<Head> heads_;
};

// Finds jobs by increasing id: steps forward from the last one found when
// the next is close (as when a queue holds most jobs), and searches from
// the root otherwise.
class JobSeeker {
 public:
  JobSeeker(const Scheduler::JobSet& jobs, uint64_t after)
      : jobs_(jobs), it_(jobs.upper_bound(after)) {}
  // Ids must not decrease from one call to the next.
  const Job* Find(uint64_t seq) {
    for (int i = 0; i < 8 && it_ != jobs_.end() && it_->seq < seq; ++i) ++it_;
    if (it_ != jobs_.end() && it_->seq < seq) it_ = jobs_.lower_bound(seq);
    return it_ != jobs_.end() && it_->seq == seq ? &*it_ : nullptr;
  }

 private:
  const Scheduler::JobSet& jobs_;
  Scheduler::JobSet::const_iterator it_;
};

bool IsIndexed(v1::JobState state) {
  return state > v1::JOB_STATE_UNSPECIFIED &&
         static_cast<size_t>(state) < std::tuple_size_v<decltype(Queue::ids)>;
}

}  // namespace

bool JobFilter::Matches(const Job& job) const {
  if (!queue.empty() && job.queue() != queue) return false;
  if (state != v1::JOB_STATE_UNSPECIFIED && job.state != state) return false;
  for (const auto& [k, v] : labels) {
    auto it = job.labels().find(k);
    if (it == job.labels().end() || it->second != v) return false;
  }
  return true;
}

JobPage Scheduler::ListPage(const JobFilter& filter, uint64_t after,
                            size_t limit, size_t max_visits) const {
  JobPage page;
  max_visits = std::max<size_t>(max_visits, 1);  // Always make progress.
  size_t visits = 0;
  uint64_t last_visited = after;
  // False: the walk stops here.
  auto visit = [&](const Job& job) {
    if (visits == max_visits) {
      page.resume_after = last_visited;
      return false;
    }
    ++visits;
    last_visited = job.seq;
    if (!filter.Matches(job)) return true;
    if (page.jobs.size() == limit) {
      page.more = true;
      return false;
    }
    page.jobs.push_back(&job);
    return true;
  };
  bool any_state = filter.state == v1::JOB_STATE_UNSPECIFIED;
  if (filter.queue.empty() && any_state) {
    for (auto it = jobs_.upper_bound(after); it != jobs_.end() && visit(*it);
         ++it) {
    }
    return page;
  }
  if (!any_state && !IsIndexed(filter.state)) return page;  // Never held.
  MergedIds ids;
  auto add = [&](const Queue& q) {
    if (!any_state) {
      ids.Add(q.ids[filter.state], after);
      return;
    }
    for (const IdSet& set : q.ids) ids.Add(set, after);
  };
  if (!filter.queue.empty()) {
    if (const Queue* q = FindQueue(filter.queue); q != nullptr) add(*q);
  } else {
    for (const auto& [name, q] : queues_) add(q);
  }
  JobSeeker seeker(jobs_, after);
  for (; !ids.done(); ids.Pop()) {
    const Job* job = seeker.Find(ids.front());
    if (job != nullptr && !visit(*job)) break;
  }
  return page;
}

void Scheduler::ForEachUnfinished(
    const std::string& queue, uint32_t states,
    absl::FunctionRef<void(const Job&)> fn) const {
  const Queue* q = FindQueue(queue);
  if (q == nullptr) return;
  MergedIds ids;
  for (size_t s = 0; s < q->ids.size(); ++s) {
    auto state = static_cast<v1::JobState>(s);
    if (IsIndexed(state) && !IsTerminal(state) && (states >> s & 1) != 0) {
      ids.Add(q->ids[s], 0);
    }
  }
  JobSeeker seeker(jobs_, 0);
  for (; !ids.done(); ids.Pop()) {
    if (const Job* job = seeker.Find(ids.front()); job != nullptr) fn(*job);
  }
}

void ListedJobs::ToProto(v1::ListJobsResponse* out) const {
  out->mutable_jobs()->Reserve(static_cast<int>(jobs.size()));
  for (const Job& job : jobs) core::ToProto(job, out->add_jobs());
  for (const auto& [index, run] : leases) {
    RemoteRunToProto(run, out->mutable_jobs(static_cast<int>(index)));
  }
  out->set_next_page_token(next_page_token);
}

bool JobListing::Step(const Scheduler& scheduler, ListedJobs* out,
                      size_t max_visits) {
  size_t want = std::min(left_, kJobsPerStep);
  JobPage page = scheduler.ListPage(filter_, after_, want, max_visits);
  if (out->jobs.empty()) out->jobs.reserve(std::min(left_, size_t{1024}));
  for (const Job* job : page.jobs) {
    if (const RemoteRun* run = scheduler.FindRemote(job->seq)) {
      out->leases.emplace_back(out->jobs.size(), *run);
    }
    out->jobs.push_back(job->Copy());
    last_ = job->seq;
  }
  left_ -= page.jobs.size();
  if (page.resume_after.has_value()) {
    after_ = *page.resume_after;
    return false;
  }
  if (page.more && left_ > 0) {
    // This step's share is done and more matches follow: the rest of the
    // page comes on the next turn.
    after_ = last_;
    return false;
  }
  if (page.more) out->next_page_token = FormatJobId(last_);
  return true;
}

}  // namespace jobq::core
