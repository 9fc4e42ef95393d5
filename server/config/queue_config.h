#pragma once

// The file-only `queues` section of jobqd's configuration: limits per
// queue, applied at start. Errors name the nested key, e.g.
// "config: queues.emails.rate: ...".

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "absl/status/status.h"
#include "config/config.h"

namespace jobq::config {

// Reads a map of queue name to {max_concurrency, max_queued, rate, burst}
// into `out`; a key a queue does not name stays unset (unchanged at start).
[[nodiscard]] absl::Status ReadQueues(const YAML::Node& n,
                                      const std::string& key,
                                      std::map<std::string, QueueConfig>* out);

}  // namespace jobq::config
