#include "config/config.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "config/config_keys.h"
#include "config/yaml_values.h"

namespace jobq::config {
namespace {

absl::Status ParseRoot(const YAML::Node& root, ServerConfig* c) {
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) return Bad("(top level)", "must be a map");
  for (const auto& kv : root) {
    const std::string name = kv.first.as<std::string>();
    const ConfigKey* key = FindConfigKey(name);
    if (key == nullptr) return Bad(name, "unknown key");
    if (auto s = SetConfigKey(*key, kv.second, c); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

ServerConfig::ServerConfig() {
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.default_value == nullptr) continue;
    absl::Status s = SetConfigKey(key, YAML::Node(key.default_value), this);
    if (!s.ok()) {
      // A default the table cannot read is a bug of the table.
      spdlog::critical("the default of {}: {}", key.name, s.ToString());
      std::abort();
    }
  }
}

bool ParseDurationText(const std::string& text, DurationUs* out) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) return false;
  *out = absl::ToInt64Microseconds(d);
  return true;
}

bool ParseSizeText(const std::string& text, size_t* out) {
  static const std::pair<const char*, size_t> kUnits[] = {
      {"KiB", size_t{1} << 10},
      {"MiB", size_t{1} << 20},
      {"GiB", size_t{1} << 30},
      {"", 1}};
  for (const auto& [suffix, mult] : kUnits) {
    absl::string_view sv(text);
    absl::string_view suf(suffix);
    if (sv.size() < suf.size() || sv.substr(sv.size() - suf.size()) != suf) {
      continue;
    }
    uint64_t n = 0;
    if (!absl::SimpleAtoi(sv.substr(0, sv.size() - suf.size()), &n)) {
      return false;
    }
    *out = static_cast<size_t>(n * mult);
    return true;
  }
  return false;
}

absl::Status ParseConfigYaml(const std::string& text, ServerConfig* config) {
  // yaml-cpp reports errors by exception; they stop here.
  try {
    return ParseRoot(YAML::Load(text), config);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", e.what()));
  }
}

absl::Status ApplyFlags(
    const std::vector<std::pair<std::string, std::string>>& flags,
    ServerConfig* config) {
  for (const auto& [name, value] : flags) {
    const ConfigKey* key = FindConfigKey(name);
    absl::Status s = key == nullptr
                         ? Bad(name, "unknown key")
                         : SetConfigKey(*key, YAML::Node(value), config);
    if (s.ok()) continue;
    // "config: compact_min_bytes: ..." becomes "--compact-min: ...".
    std::string message(s.message());
    std::string prefix = absl::StrCat("config: ", name);
    if (key != nullptr && !key->file_only &&
        absl::StartsWith(message, prefix)) {
      message = FlagName(*key) + message.substr(prefix.size());
    }
    return absl::InvalidArgumentError(message);
  }
  return absl::OkStatus();
}

absl::Status ValidateConfig(const ServerConfig& c) {
  if (c.sync != "fsync" && c.sync != "none") {
    return Bad("sync", "fsync or none");
  }
  if (c.recover != "strict" && c.recover != "skip-corrupt") {
    return Bad("recover", "strict or skip-corrupt");
  }
  if (!c.postgres.empty() && !c.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "config: --postgres and --data-dir (postgres, data_dir) are both "
        "given: the log is kept either in PostgreSQL or in a directory; give "
        "one of them");
  }
  if (c.stream_buffer == 0) return Bad("stream_buffer", "at least 1");
  if (c.max_stream_memory < (1 << 20)) {
    return Bad("max_stream_memory", "at least 1MiB");
  }
  if (c.max_running == 0) return Bad("max_running", "at least 1");
  if (c.lease < kSecond) return Bad("lease", "must be at least 1s");
  if (c.max_streams_per_connection == 0 ||
      c.max_streams_per_connection > (1u << 31) - 1) {
    return Bad("max_streams_per_connection", "between 1 and 2^31-1");
  }
  if (c.max_message_size < c.max_payload + (64 << 10) ||
      c.max_message_size > (size_t{1} << 30)) {
    return Bad("max_message_size",
               absl::StrCat("between max_payload + 64KiB (",
                            c.max_payload + (64 << 10), ") and 1GiB"));
  }
  if (c.command_user.empty()) {
    return Bad("command_user", "name the user commands run as under root");
  }
  return absl::OkStatus();
}

absl::Status LoadConfigFile(const std::string& path, ServerConfig* config) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("config: cannot read ", path));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  absl::Status s = ParseConfigYaml(buf.str(), config);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  }
  return s;
}

}  // namespace jobq::config
