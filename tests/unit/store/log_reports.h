#pragma once

// What a log's writer reports, collected for tests that wait on the
// reports themselves (never on time).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "store/log.h"

namespace jobq::store {

// Collects commit reports; tests wait on the report itself.
class Commits {
 public:
  CommitCallback Callback() {
    return [this](uint64_t batch, absl::Status s) {
      std::lock_guard lock(mu_);
      for (uint64_t b = last_ + 1; b <= batch; ++b) status_[b] = s;
      last_ = std::max(last_, batch);
      cv_.notify_all();
    };
  }
  uint64_t last() {
    std::lock_guard lock(mu_);
    return last_;
  }
  absl::Status WaitFor(uint64_t batch) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20),
                 [&] { return last_ >= batch; });
    auto it = status_.find(batch);
    return it == status_.end() ? absl::DeadlineExceededError("no report")
                               : it->second;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, absl::Status> status_;
  uint64_t last_ = 0;
};

// What the writer reports besides commits; tests wait on the report.
class WriterReports {
 public:
  LogEvents Events() {
    LogEvents e;
    e.on_withdrawn = [this](uint64_t batch, absl::Status s) {
      std::lock_guard lock(mu_);
      withdrawn_ = batch;
      why_ = s;
      cv_.notify_all();
    };
    e.on_health = [this](absl::Status s) {
      std::lock_guard lock(mu_);
      health_.push_back(s);
      cv_.notify_all();
    };
    return e;
  }
  // Waits for the `n`th health report and returns it.
  absl::Status WaitHealth(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20),
                 [&] { return health_.size() >= n; });
    return health_.size() >= n ? health_[n - 1]
                               : absl::DeadlineExceededError("no report");
  }
  absl::Status WaitWithdrawn(uint64_t batch) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20),
                 [&] { return withdrawn_ >= batch; });
    return withdrawn_ >= batch ? why_ : absl::DeadlineExceededError("none");
  }
  size_t health_reports() {
    std::lock_guard lock(mu_);
    return health_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<absl::Status> health_;
  uint64_t withdrawn_ = 0;
  absl::Status why_;
};

}  // namespace jobq::store
