#include "common/task_thread.h"

#include <pthread.h>

#include <utility>

#include "common/process.h"

namespace jobq {

TaskThread::TaskThread(std::string name, int nice)
    : name_(std::move(name)), nice_(nice), thread_([this] { Run(); }) {}

TaskThread::~TaskThread() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void TaskThread::Post(absl::AnyInvocable<void() &&> task) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    wake = queued_.empty();
    queued_.push_back(std::move(task));
  }
  if (wake) cv_.notify_one();
}

void TaskThread::Run() {
  pthread_setname_np(pthread_self(), name_.c_str());
  if (nice_ != 0) RaiseThreadNice(nice_);
  std::deque<absl::AnyInvocable<void() &&>> batch;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queued_.empty(); });
      if (queued_.empty()) return;  // Stopped, and nothing is left.
      batch.swap(queued_);
    }
    for (auto& task : batch) std::move(task)();
    batch.clear();
  }
}

}  // namespace jobq
