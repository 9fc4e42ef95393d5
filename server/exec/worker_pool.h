#pragma once

#include <memory>
#include <vector>

#include "core/dispatcher.h"
#include "exec/worker_loop.h"

namespace jobq::exec {

// N worker loops. A job goes to the loop chosen by a hash of its id, so a
// cancel finds it without bookkeeping.
// Thread: Dispatch/Cancel from the core; Start/Stop from the owner.
class WorkerPool final : public core::Dispatcher {
 public:
  WorkerPool(int loops, const CommandTable* commands, ResultSink sink,
             const SpawnOptions& spawn = {}, LatencyHops* hops = nullptr);
  ~WorkerPool() override;

  void Start();
  void Stop();

  void Dispatch(std::vector<core::Assignment>&& jobs) override;
  void Cancel(uint64_t seq, int32_t attempt) override;

  int size() const { return static_cast<int>(loops_.size()); }

 private:
  size_t LoopOf(uint64_t seq) const;
  std::vector<std::unique_ptr<WorkerLoop>> loops_;
  std::vector<std::vector<core::Assignment>> split_;  // Core thread scratch.
};

}  // namespace jobq::exec
