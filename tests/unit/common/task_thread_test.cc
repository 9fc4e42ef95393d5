#include "common/task_thread.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace jobq {
namespace {

int OwnNice() {
  return getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
}

TEST(TaskThreadTest, RunsTasksInTheOrderPostedOnItsOwnThread) {
  std::vector<int> ran;  // Touched only by the task thread until joined.
  std::promise<std::thread::id> where;
  {
    TaskThread thread("test-tasks");
    for (int i = 0; i < 100; ++i) {
      thread.Post([&ran, i] { ran.push_back(i); });
    }
    thread.Post([&where] { where.set_value(std::this_thread::get_id()); });
    EXPECT_NE(where.get_future().get(), std::this_thread::get_id());
  }
  ASSERT_EQ(ran.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ran[i], i);
}

TEST(TaskThreadTest, StoppingRunsEveryTaskPostedBeforeIt) {
  auto count = std::make_shared<int>(0);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto thread = std::make_unique<TaskThread>("test-tasks");
  // The first task holds the thread, so the rest are still queued when
  // the destructor starts.
  thread->Post([released] { released.wait(); });
  for (int i = 0; i < 50; ++i) thread->Post([count] { ++*count; });
  std::thread stopper([&] { thread.reset(); });
  release.set_value();
  stopper.join();
  EXPECT_EQ(*count, 50);
}

TEST(TaskThreadTest, ItsNiceValueIsRaisedForItAlone) {
  int before = OwnNice();
  if (before + 10 > 19) GTEST_SKIP() << "already at nice " << before;
  std::promise<int> seen;
  {
    TaskThread thread("test-tasks", 10);
    thread.Post([&seen] { seen.set_value(OwnNice()); });
    EXPECT_EQ(seen.get_future().get(), before + 10);
  }
  EXPECT_EQ(OwnNice(), before);  // The posting thread kept its own.
}

}  // namespace
}  // namespace jobq
