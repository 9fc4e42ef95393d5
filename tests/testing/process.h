#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace jobq::testing {

// Waits (up to 10 s) until no process `pid` exists, counting a zombie as
// gone: a killed grandchild is reaped by whoever adopted it, in its own time.
// True if it went.
inline bool WaitProcessGone(pid_t pid) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    if (line.find(") Z") != std::string::npos) return true;
    std::this_thread::yield();
  }
  return false;
}

}  // namespace jobq::testing
