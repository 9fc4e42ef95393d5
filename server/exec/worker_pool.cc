#include "exec/worker_pool.h"

namespace jobq::exec {

WorkerPool::WorkerPool(int loops, const CommandTable* commands, ResultSink sink,
                       const SpawnOptions& spawn, LatencyHops* hops) {
  for (int i = 0; i < std::max(1, loops); ++i) {
    loops_.push_back(
        std::make_unique<WorkerLoop>(i, commands, sink, spawn, hops));
  }
  split_.resize(loops_.size());
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Start() {
  for (auto& l : loops_) l->Start();
}

void WorkerPool::Stop() {
  for (auto& l : loops_) l->Stop();
}

size_t WorkerPool::LoopOf(uint64_t seq) const {
  return static_cast<size_t>((seq * 0x9E3779B97F4A7C15ULL) >> 33) %
         loops_.size();
}

void WorkerPool::Dispatch(std::vector<core::Assignment>&& jobs) {
  for (auto& j : jobs) split_[LoopOf(j.seq)].push_back(std::move(j));
  for (size_t i = 0; i < loops_.size(); ++i) {
    if (!split_[i].empty()) loops_[i]->Run(std::move(split_[i]));
    split_[i].clear();
  }
}

void WorkerPool::Cancel(uint64_t seq, int32_t attempt) {
  loops_[LoopOf(seq)]->Cancel(seq, attempt);
}

}  // namespace jobq::exec
