#pragma once

// How the facade posts its commands to the core: internal to the engine.

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/job.h"
#include "engine/core_api.h"
#include "engine/core_loop.h"

namespace jobq::engine {

// The answer about a job id the core does not hold.
inline absl::Status JobNotFound(uint64_t seq) {
  return absl::NotFoundError(
      absl::StrCat("job ", core::FormatJobId(seq), " not found"));
}

// PERMISSION_DENIED unless `check` (null: anyone) lets the caller use the
// job's queue.
inline absl::Status CheckJob(const QueueCheck& check, const core::Job& job) {
  if (!check) return absl::OkStatus();
  return check(job.queue(), absl::StrCat("job ", core::FormatJobId(job.seq)));
}

// Runs fn(core, payload) on the core thread; when the core has stopped,
// stopped(payload) on this thread instead, so that whatever `payload`
// carries (an answer to give) is never dropped unanswered. Returns whether
// it was posted.
template <typename Payload, typename Fn, typename StoppedFn>
bool PostOr(CoreLoop* loop, Payload payload, Fn fn, StoppedFn stopped) {
  struct State {
    Payload payload;
    Fn fn;
  };
  auto state =
      std::make_unique<State>(State{std::move(payload), std::move(fn)});
  State* raw = state.get();
  CoreTask task = [state = std::move(state)](CoreContext& core) mutable {
    state->fn(core, state->payload);
  };
  // A task the loop refuses is left intact: `raw` is still alive in it.
  if (loop->TryPost(task)) return true;
  stopped(raw->payload);
  return false;
}

// PostOr for a Done<T>: UNAVAILABLE when the core has stopped.
template <typename T, typename Fn>
void Call(CoreLoop* loop, Done<T> done, Fn fn) {
  PostOr(loop, std::move(done), std::move(fn),
         [](Done<T>& done) { done(Stopped()); });
}

// Answers `done` with `value` once what this core turn changed is durable
// (or with the log's error). Thread: core loop only.
template <typename T>
void AnswerWhenDurable(CoreLoop& loop, T value, Done<T> done) {
  loop.AfterDurable([value = std::move(value),
                     done = std::move(done)](const absl::Status& s) mutable {
    if (s.ok()) {
      done(std::move(value));
    } else {
      done(s);
    }
  });
}

}  // namespace jobq::engine
