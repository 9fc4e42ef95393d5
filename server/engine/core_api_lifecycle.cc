// The facade's lifecycle commands: retrying and deleting finished jobs,
// and the bulk RetryDead and PurgeQueue, which work a bounded step per
// core turn so that a queue of millions never holds the core for long.
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/job.h"
#include "engine/core_api.h"
#include "engine/core_api_post.h"
#include "engine/core_loop.h"

namespace jobq::engine {
namespace {

absl::Status UnknownQueue(const std::string& queue) {
  return absl::NotFoundError(
      absl::StrCat("queue: \"", queue, "\" does not exist"));
}

// A bulk command in steps: `step(core, max)` changes at most `max` jobs
// and returns how many it changed; the command ends when a step changes
// fewer than it may, or `limit` (0: none) are done.
struct BulkRun {
  std::string queue;
  uint64_t limit = 0;
  uint64_t count = 0;
  std::function<size_t(CoreContext&, size_t)> step;
};

void BulkStep(CoreLoop* loop, BulkRun run, Done<uint64_t> done) {
  Call(loop, std::move(done),
       [run = std::move(run)](CoreContext& core, Done<uint64_t>& done) mutable {
         if (core.scheduler.FindQueue(run.queue) == nullptr) {
           return done(UnknownQueue(run.queue));
         }
         // Refused before anything (more) changed; earlier steps stay.
         if (const absl::Status& s = core.loop.Writable(); !s.ok()) {
           return done(s);
         }
         size_t max = CoreApi::kLifecycleChunk;
         if (run.limit > 0)
           max = std::min<uint64_t>(max, run.limit - run.count);
         size_t n = run.step(core, max);
         run.count += n;
         if (n < max || (run.limit > 0 && run.count >= run.limit)) {
           return AnswerWhenDurable<uint64_t>(core.loop, run.count,
                                              std::move(done));
         }
         // The rest on a later turn, after what is queued meanwhile.
         BulkStep(&core.loop, std::move(run), std::move(done));
       });
}

}  // namespace

void CoreApi::RetryJob(uint64_t seq, QueueCheck check, Done<v1::Job> done) {
  Call(loop_, std::move(done),
       [seq, check = std::move(check)](CoreContext& core, Done<v1::Job>& done) {
         const core::Job* job = core.scheduler.Find(seq);
         if (job == nullptr) return done(JobNotFound(seq));
         if (absl::Status s = CheckJob(check, *job); !s.ok()) return done(s);
         if (const absl::Status& s = core.loop.Writable(); !s.ok()) {
           return done(s);
         }
         auto retried = core.scheduler.RetryJob(seq, core.now);
         if (!retried.ok()) return done(retried.status());
         v1::Job out;
         core.scheduler.ToProto(**retried, &out);
         AnswerWhenDurable(core.loop, std::move(out), std::move(done));
       });
}

void CoreApi::DeleteJob(uint64_t seq, QueueCheck check,
                        Done<v1::DeleteJobResponse> done) {
  Call(loop_, std::move(done),
       [seq, check = std::move(check)](CoreContext& core,
                                       Done<v1::DeleteJobResponse>& done) {
         const core::Job* job = core.scheduler.Find(seq);
         if (job == nullptr) return done(JobNotFound(seq));
         if (absl::Status s = CheckJob(check, *job); !s.ok()) return done(s);
         if (const absl::Status& s = core.loop.Writable(); !s.ok()) {
           return done(s);
         }
         if (absl::Status s = core.scheduler.DeleteJob(seq); !s.ok()) {
           return done(s);
         }
         AnswerWhenDurable(core.loop, v1::DeleteJobResponse(), std::move(done));
       });
}

void CoreApi::RetryDead(std::string queue, uint64_t limit,
                        Done<uint64_t> done) {
  BulkRun run;
  run.limit = limit;
  run.step = [queue](CoreContext& core, size_t max) {
    return core.scheduler.RetryDeadStep(queue, max, core.now);
  };
  run.queue = std::move(queue);
  BulkStep(loop_, std::move(run), std::move(done));
}

void CoreApi::PurgeQueue(std::string queue, uint32_t states,
                         Done<uint64_t> done) {
  BulkRun run;
  run.step = [queue, states](CoreContext& core, size_t max) {
    std::vector<std::pair<uint64_t, int32_t>> stop;
    size_t n = core.scheduler.PurgeStep(queue, states, max, core.now, &stop);
    for (const auto& [seq, attempt] : stop) {
      core.dispatcher.Cancel(seq, attempt);
    }
    return n;
  };
  run.queue = std::move(queue);
  BulkStep(loop_, std::move(run), std::move(done));
}

}  // namespace jobq::engine
