#pragma once

// How the facade posts its commands to the core: internal to the engine.

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "engine/core_api.h"
#include "engine/core_loop.h"

namespace jobq::engine {

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

}  // namespace jobq::engine
