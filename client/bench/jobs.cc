#include "client/bench/jobs.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace jobq::bench {

v1::JobSpec MakeJob(const Options& o, uint64_t i) {
  v1::JobSpec s;
  s.set_kind(o.kind);
  s.set_queue(absl::StrCat("bench", i % static_cast<uint64_t>(o.queues)));
  s.set_priority(static_cast<int32_t>(i % static_cast<uint64_t>(o.priorities)));
  s.set_payload(std::string(o.payload, 'x'));
  return s;
}

std::string FreshQueue(const std::string& prefix) {
  return absl::StrCat(prefix,
                      Clock::now().time_since_epoch().count() % 1000000);
}

absl::Status SubmitCopies(client::Client& c, const v1::JobSpec& spec,
                          uint64_t n) {
  for (uint64_t sent = 0; sent < n;) {
    uint64_t batch = std::min<uint64_t>(10'000, n - sent);
    auto resp = c.SubmitBatch(std::vector<v1::JobSpec>(batch, spec));
    if (!resp.ok()) return resp.status();
    sent += batch;
  }
  return absl::OkStatus();
}

}  // namespace jobq::bench
