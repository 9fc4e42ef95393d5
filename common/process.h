#pragma once

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

}  // namespace jobq
