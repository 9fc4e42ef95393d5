#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"

namespace jobq {

// Runs posted tasks in order on a thread of its own, at a lower OS
// priority (a nice value) when asked. For bulk work that must not delay
// latency-bound threads when the CPUs are busy: the thread still runs
// whenever they are idle, and the tasks it is given wait longer otherwise.
// Thread: Post from any thread; tasks on its own.
class TaskThread {
 public:
  // `name` (at most 15 characters) names the thread; `nice` is added to
  // the process's nice value for it (Linux; 0 keeps it, 19 is the lowest
  // priority).
  TaskThread(std::string name, int nice = 0);
  ~TaskThread();  // Runs what was posted, then joins.
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  void Post(absl::AnyInvocable<void() &&> task);

 private:
  void Run();

  const std::string name_;
  const int nice_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::AnyInvocable<void() &&>> queued_;  // Guarded by mu_.
  bool stop_ = false;                                 // Guarded by mu_.
  std::thread thread_;
};

}  // namespace jobq
