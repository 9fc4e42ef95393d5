#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "common/channel.h"
#include "common/clock.h"
#include "core/dispatcher.h"
#include "core/scheduler.h"
#include "events/event_hub.h"

namespace jobq::daemon {

class CoreLoop;

// What a task posted to the core may use. Valid only during the task.
struct CoreContext {
  core::Scheduler& scheduler;
  events::EventHub& hub;
  core::Dispatcher& dispatcher;
  TimeUs now;
  CoreLoop& loop;
};

using CoreTask = absl::AnyInvocable<void(CoreContext&)>;

// The one thread that owns all job state: a libuv loop that runs the
// Scheduler and the EventHub. Tasks from gRPC threads and results from worker
// loops arrive through channels and are drained in batches; after each batch
// the loop promotes due jobs, dispatches what may start, flushes event
// streams once, and arms its timer for the next deadline.
// Thread: Post*/Drain/Stop from any thread; everything else on the loop.
class CoreLoop {
 public:
  struct Options {
    core::SchedulerOptions scheduler;
    // Jobs running at once on the dispatcher, all queues together.
    size_t max_running = 100'000;
  };

  CoreLoop(Options options, const Clock* clock);
  ~CoreLoop();
  CoreLoop(const CoreLoop&) = delete;
  CoreLoop& operator=(const CoreLoop&) = delete;

  // `dispatcher` must outlive the loop's thread.
  void Start(core::Dispatcher* dispatcher);

  // Runs `task` on the core thread. False (and the task is dropped) once the
  // loop has stopped.
  bool Post(CoreTask task);
  // Hands finished runs to the scheduler.
  void PostResults(std::vector<core::RunResult>&& results);

  // Stops starting jobs and waits up to `grace` for running ones to finish.
  // Returns the number still running.
  size_t Drain(DurationUs grace);
  // Stops the loop and joins its thread. Tasks already posted still run.
  void Stop();

 private:
  void OnTasks(std::vector<CoreTask>& batch);
  void OnResults(std::vector<core::RunResult>& batch);
  // After every batch: promote, dispatch, flush, re-arm the timer.
  void Pump();
  CoreContext Context();

  Options options_;
  const Clock* clock_;
  core::Dispatcher* dispatcher_ = nullptr;
  events::EventHub hub_;
  core::Scheduler scheduler_;
  uv_loop_t loop_;
  uv_timer_t timer_;
  std::unique_ptr<Channel<CoreTask>> tasks_;
  std::unique_ptr<Channel<core::RunResult>> results_;
  std::thread thread_;
  bool draining_ = false;          // Loop thread.
  std::function<void()> on_idle_;  // Loop thread: drain waiter.
  bool closing_ = false;           // Loop thread.
  bool stopped_ = false;
};

}  // namespace jobq::daemon
