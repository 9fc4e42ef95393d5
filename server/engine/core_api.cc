// The facade's job and stream commands; the queue, worker and figure
// commands are in core_api_admin.cc.
#include "engine/core_api.h"

#include "absl/strings/str_cat.h"
#include "core/job.h"
#include "engine/core_api_post.h"
#include "engine/core_loop.h"

namespace jobq::engine {
namespace {

// Steps `listing` on the core, posting itself again until the page is
// complete.
void ListStep(CoreLoop* loop, core::JobListing listing,
              std::unique_ptr<core::ListedJobs> out,
              Done<core::ListedJobs> done) {
  struct Step {
    core::JobListing listing;
    std::unique_ptr<core::ListedJobs> out;
  };
  PostOr(
      loop, std::move(done),
      [step = Step{std::move(listing), std::move(out)}](
          CoreContext& core, Done<core::ListedJobs>& done) mutable {
        if (step.listing.Step(core.scheduler, step.out.get())) {
          done(std::move(*step.out));
        } else {
          ListStep(&core.loop, std::move(step.listing), std::move(step.out),
                   std::move(done));
        }
      },
      [](Done<core::ListedJobs>& done) { done(Stopped()); });
}

}  // namespace

absl::Status SubmitRefusal(const core::SubmitOutcome& out,
                           absl::string_view prefix) {
  if (!out.error.ok()) {
    return absl::Status(out.error.code(),
                        absl::StrCat(prefix, out.error.message()));
  }
  return absl::ResourceExhaustedError(
      absl::StrCat(prefix, "queue: the queue holds ", out.full_at,
                   " unfinished jobs, its max_queued; retry later"));
}

CoreApi::CoreApi(CoreLoop* loop, Options options)
    : loop_(loop), options_(options) {}

bool CoreApi::Run(absl::AnyInvocable<void()> fn) {
  return loop_->Post([fn = std::move(fn)](CoreContext&) mutable { fn(); });
}

bool CoreApi::Submit(std::vector<v1::JobSpec> specs, SubmitDone done) {
  return loop_->Post([specs = std::move(specs),
                      done = std::move(done)](CoreContext& core) mutable {
    core.loop.Submit(std::move(specs), core.now, std::move(done));
  });
}

void CoreApi::GetJob(uint64_t seq, QueueCheck check, Done<v1::Job> done) {
  Call(loop_, std::move(done),
       [seq, check = std::move(check)](CoreContext& core, Done<v1::Job>& done) {
         const core::Job* job = core.scheduler.Find(seq);
         if (job == nullptr) return done(JobNotFound(seq));
         if (absl::Status s = CheckJob(check, *job); !s.ok()) return done(s);
         v1::Job out;
         core.scheduler.ToProto(*job, &out);
         done(std::move(out));
       });
}

void CoreApi::CancelJob(uint64_t seq, QueueCheck check, Done<v1::Job> done) {
  Call(loop_, std::move(done),
       [seq, check = std::move(check)](CoreContext& core, Done<v1::Job>& done) {
         if (const core::Job* job = core.scheduler.Find(seq); job != nullptr) {
           if (absl::Status s = CheckJob(check, *job); !s.ok()) {
             return done(s);
           }
         }
         // Refused before anything changed.
         if (const absl::Status& s = core.loop.Writable(); !s.ok()) {
           return done(s);
         }
         auto out = core.scheduler.Cancel(seq, core.now);
         if (!out.ok()) return done(out.status());
         if (out->running_attempt) {
           core.dispatcher.Cancel(seq, *out->running_attempt);
         }
         v1::Job job;
         core.scheduler.ToProto(*out->job, &job);
         core.loop.AfterDurable([job = std::move(job), done = std::move(done)](
                                    const absl::Status& s) mutable {
           if (s.ok()) {
             done(std::move(job));
           } else {
             done(s);
           }
         });
       });
}

void CoreApi::ListJobs(ListQuery query, Done<core::ListedJobs> done) {
  ListStep(
      loop_,
      core::JobListing(std::move(query.filter), query.after, query.page_size),
      std::make_unique<core::ListedJobs>(), std::move(done));
}

void CoreApi::Watch(std::shared_ptr<Watcher> w, WatchSpec spec) {
  size_t max = options_.max_watchers_per_queue;
  PostOr(
      loop_, std::move(w),
      [this, spec = std::move(spec), max](CoreContext& core,
                                          std::shared_ptr<Watcher>& w) {
        events::EventStream& stream = *w->stream;
        for (uint64_t seq : spec.seqs) {
          const core::Job* job = core.scheduler.Find(seq);
          if (job == nullptr) return stream.Close(ToGrpc(JobNotFound(seq)));
          if (absl::Status s = CheckJob(spec.check, *job); !s.ok()) {
            return stream.Close(ToGrpc(s));
          }
        }
        if (!spec.queue.empty() && max > 0 &&
            core.hub.QueueWatchers(spec.queue) >= max) {
          watchers_refused_.fetch_add(1, std::memory_order_relaxed);
          return stream.Close(grpc::Status(
              grpc::StatusCode::RESOURCE_EXHAUSTED,
              absl::StrCat("queue: \"", spec.queue, "\" has ", max,
                           " watchers, its max_watchers_per_queue; retry "
                           "later")));
        }
        w->subscription = core.hub.Subscribe(w->stream);
        for (uint64_t seq : spec.seqs) {
          core.hub.WatchJob(w->subscription, *core.scheduler.Find(seq),
                            spec.states);
        }
        if (!spec.queue.empty()) {
          core.hub.WatchQueue(w->subscription, spec.queue, core.scheduler,
                              spec.states);
          stream.AddOpening();
        } else {
          core.hub.CloseWhenDone(w->subscription);
        }
        stream.Flush();
      },
      [](std::shared_ptr<Watcher>& w) { w->stream->Close(Unavailable()); });
}

void CoreApi::SubmitAndWatch(std::shared_ptr<Watcher> w, v1::JobSpec spec,
                             events::EventHub::StateMask states) {
  std::vector<v1::JobSpec> specs;
  specs.push_back(std::move(spec));
  // The watch starts once the job is durable, with its first state.
  std::shared_ptr<events::EventStream> stream = w->stream;
  bool posted = Submit(
      std::move(specs),
      [loop = loop_, w, states](const absl::Status& s,
                                const std::vector<core::SubmitOutcome>& out) {
        events::EventStream& stream = *w->stream;
        if (!s.ok()) return stream.Close(ToGrpc(s));
        if (out[0].refused()) {
          return stream.Close(ToGrpc(SubmitRefusal(out[0], "job.")));
        }
        CoreContext core = loop->Context();
        const core::Job* job = core.scheduler.Find(out[0].seq);
        if (job == nullptr)
          return stream.Close(ToGrpc(JobNotFound(out[0].seq)));
        w->subscription = core.hub.Subscribe(w->stream);
        core.hub.WatchJob(w->subscription, *job, states);
        core.hub.CloseWhenDone(w->subscription);
        stream.Flush();
      });
  if (!posted) stream->Close(Unavailable());
}

bool CoreApi::OpenStream(std::shared_ptr<Watcher> w) {
  return PostOr(
      loop_, std::move(w),
      [](CoreContext& core, std::shared_ptr<Watcher>& w) {
        w->subscription = core.hub.Subscribe(w->stream);
      },
      [](std::shared_ptr<Watcher>& w) { w->stream->Close(Unavailable()); });
}

bool CoreApi::SubmitOnStream(
    std::shared_ptr<Watcher> w, v1::JobSpec spec, bool watch,
    events::EventHub::StateMask states,
    absl::AnyInvocable<bool(const absl::Status&, const core::SubmitOutcome&)>
        acked) {
  std::vector<v1::JobSpec> specs;
  specs.push_back(std::move(spec));
  return Submit(
      std::move(specs),
      [loop = loop_, w, watch, states, acked = std::move(acked)](
          const absl::Status& s,
          const std::vector<core::SubmitOutcome>& out) mutable {
        core::SubmitOutcome outcome = s.ok() ? out[0] : core::SubmitOutcome{};
        absl::Status status = s;
        if (s.ok() && outcome.refused()) {
          status = SubmitRefusal(outcome, "job.");
        }
        if (!acked(status, outcome)) return;
        CoreContext core = loop->Context();
        if (status.ok() && watch && w->subscription != 0) {
          if (const core::Job* job = core.scheduler.Find(outcome.seq)) {
            core.hub.WatchJob(w->subscription, *job, states);
          }
        }
        // Written at the end of the turn, with the events of the jobs it
        // started (a noop's RUNNING and SUCCEEDED): one write, not three.
        if (w->subscription != 0) {
          core.hub.MarkDirty(w->subscription);
        } else {
          w->stream->Flush();
        }
      });
}

void CoreApi::EndStream(std::shared_ptr<Watcher> w) {
  PostOr(
      loop_, std::move(w),
      [](CoreContext& core, std::shared_ptr<Watcher>& w) {
        // After the acks of every earlier submit: an empty submit is
        // answered in order with them.
        core.loop.Submit(
            {}, core.now,
            [loop = &core.loop, w](const absl::Status&,
                                   const std::vector<core::SubmitOutcome>&) {
              if (w->subscription != 0) {
                loop->Context().hub.CloseWhenDone(w->subscription);
              } else {
                w->stream->Close(grpc::Status::OK);
              }
            });
      },
      [](std::shared_ptr<Watcher>& w) { w->stream->Close(Unavailable()); });
}

void CoreApi::Unsubscribe(std::shared_ptr<Watcher> w) {
  loop_->Post([w = std::move(w)](CoreContext& core) {
    if (w->subscription != 0) core.hub.Unsubscribe(w->subscription);
    w->subscription = 0;
  });
}

}  // namespace jobq::engine
