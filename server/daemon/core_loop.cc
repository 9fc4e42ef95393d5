#include "daemon/core_loop.h"

#include <pthread.h>

#include <future>

namespace jobq::daemon {

CoreLoop::CoreLoop(Options options, const Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      scheduler_(options_.scheduler, &hub_) {
  uv_loop_init(&loop_);
  uv_timer_init(&loop_, &timer_);
  timer_.data = this;
  tasks_ = std::make_unique<Channel<CoreTask>>(
      &loop_, [this](std::vector<CoreTask>& batch) { OnTasks(batch); });
  results_ = std::make_unique<Channel<core::RunResult>>(
      &loop_,
      [this](std::vector<core::RunResult>& batch) { OnResults(batch); });
}

CoreLoop::~CoreLoop() {
  Stop();
  uv_loop_close(&loop_);
}

void CoreLoop::Start(core::Dispatcher* dispatcher) {
  dispatcher_ = dispatcher;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "jobq-core");
    uv_run(&loop_, UV_RUN_DEFAULT);
  });
}

bool CoreLoop::Post(CoreTask task) { return tasks_->Post(std::move(task)); }

void CoreLoop::PostResults(std::vector<core::RunResult>&& results) {
  results_->PostMany(std::move(results));
}

CoreContext CoreLoop::Context() {
  return CoreContext{scheduler_, hub_, *dispatcher_, clock_->Now(), *this};
}

void CoreLoop::OnTasks(std::vector<CoreTask>& batch) {
  CoreContext ctx = Context();
  for (auto& task : batch) task(ctx);
  Pump();
}

void CoreLoop::OnResults(std::vector<core::RunResult>& batch) {
  TimeUs now = clock_->Now();
  for (const auto& r : batch) scheduler_.Finish(r, now);
  Pump();
}

void CoreLoop::Pump() {
  if (closing_) return;
  TimeUs now = clock_->Now();
  TimeUs next = scheduler_.Tick(now);
  if (!draining_ && scheduler_.running() < options_.max_running) {
    auto jobs = scheduler_.TakeRunnable(
        now, options_.max_running - scheduler_.running());
    if (!jobs.empty()) dispatcher_->Dispatch(std::move(jobs));
  }
  hub_.FlushAll();
  if (next > 0) {
    uint64_t ms =
        next > now ? static_cast<uint64_t>((next - now + 999) / 1000) : 0;
    uv_timer_start(
        &timer_, [](uv_timer_t* t) { static_cast<CoreLoop*>(t->data)->Pump(); },
        ms, 0);
  } else {
    uv_timer_stop(&timer_);
  }
  if (on_idle_ && scheduler_.running() == 0) {
    auto done = std::move(on_idle_);
    on_idle_ = nullptr;
    done();
  }
}

size_t CoreLoop::Drain(DurationUs grace) {
  auto idle = std::make_shared<std::promise<void>>();
  std::future<void> idle_future = idle->get_future();
  bool posted = Post([idle](CoreContext& ctx) {
    ctx.loop.draining_ = true;
    ctx.loop.on_idle_ = [idle] { idle->set_value(); };
  });
  if (!posted) return 0;
  idle_future.wait_for(std::chrono::microseconds(grace));
  auto count = std::make_shared<std::promise<size_t>>();
  std::future<size_t> count_future = count->get_future();
  if (!Post([count](CoreContext& ctx) {
        ctx.loop.on_idle_ = nullptr;
        count->set_value(ctx.scheduler.running());
      })) {
    return 0;
  }
  return count_future.get();
}

void CoreLoop::Stop() {
  if (stopped_) return;
  stopped_ = true;
  auto close_all = [this] {
    closing_ = true;
    tasks_->Close();
    results_->Close();
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  };
  if (thread_.joinable()) {
    // Closing must happen on the loop thread; the last task does it.
    Post([close_all](CoreContext&) { close_all(); });
    thread_.join();
  } else {
    close_all();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
}

}  // namespace jobq::daemon
