#include "config/queue_config.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "config/yaml_values.h"

namespace jobq::config {
namespace {

absl::Status ReadQueue(const std::string& key, const YAML::Node& n,
                       QueueConfig* out) {
  if (!n.IsMap()) {
    return Bad(key,
               "must be a map of max_concurrency, max_queued, rate, burst");
  }
  for (const auto& kv : n) {
    std::string field = kv.first.as<std::string>();
    std::string name = absl::StrCat(key, ".", field);
    absl::Status s;
    if (field == "max_concurrency" || field == "burst") {
      int v = 0;
      s = ReadInt(kv.second, name, 0, std::numeric_limits<int>::max(), &v);
      (field == "burst" ? out->burst : out->max_concurrency) = v;
    } else if (field == "max_queued") {
      size_t v = 0;
      s = ReadSize(kv.second, name, &v);
      out->max_queued = static_cast<int64_t>(v);
    } else if (field == "rate") {
      double v = 0;
      s = ReadRate(kv.second, name, &v);
      out->rate = v;
    } else {
      s = Bad(name, "unknown key (max_concurrency, max_queued, rate, burst)");
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Queue names as the API takes them: [a-z0-9][a-z0-9._-]{0,63}.
bool ValidQueueName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

}  // namespace

absl::Status ReadQueues(const YAML::Node& n, const std::string& key,
                        std::map<std::string, QueueConfig>* out) {
  if (!n.IsMap()) return Bad(key, "must be a map of queue name to limits");
  for (const auto& kv : n) {
    std::string name = kv.first.as<std::string>();
    std::string nested = absl::StrCat(key, ".", name);
    if (!ValidQueueName(name)) {
      return Bad(nested, "not a queue name ([a-z0-9][a-z0-9._-]{0,63})");
    }
    QueueConfig parsed;
    if (auto s = ReadQueue(nested, kv.second, &parsed); !s.ok()) return s;
    (*out)[name] = parsed;
  }
  return absl::OkStatus();
}

}  // namespace jobq::config
