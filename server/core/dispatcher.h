#pragma once

#include <cstdint>
#include <vector>

#include "core/scheduler.h"

namespace jobq::core {

// Where started jobs go to run: the built-in worker pool now, a remote
// worker stream later. Results come back through the core's result path.
// Thread: called on the core loop; implementations hand off without
// blocking.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual void Dispatch(std::vector<Assignment>&& jobs) = 0;
  // Stops the run of (seq, attempt) without reporting a result.
  virtual void Cancel(uint64_t seq, int32_t attempt) = 0;
};

}  // namespace jobq::core
