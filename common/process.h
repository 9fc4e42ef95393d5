#pragma once

#include <dlfcn.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>

namespace jobq {

// This process's resident memory in bytes, from /proc/self/statm (Linux).
inline uint64_t ResidentMemoryBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Hands memory the allocator keeps free back to the system: jemalloc's
// purge when the process runs on jemalloc (jobqd links it), glibc's
// malloc_trim otherwise.
inline void ReleaseFreeMemory() {
  using Mallctl = int (*)(const char*, void*, size_t*, void*, size_t);
  static const auto mallctl =
      reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"));
  if (mallctl != nullptr) {
    // "arena.<MALLCTL_ARENAS_ALL>.purge"; 4096 is MALLCTL_ARENAS_ALL.
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
  } else {
    malloc_trim(0);
  }
}

// Adds `by` to the calling thread's nice value (Linux, where a nice value
// is a thread's own: the process's other threads keep theirs).
inline void RaiseThreadNice(int by) {
  auto tid = static_cast<id_t>(syscall(SYS_gettid));
  setpriority(PRIO_PROCESS, tid, getpriority(PRIO_PROCESS, tid) + by);
}

}  // namespace jobq
