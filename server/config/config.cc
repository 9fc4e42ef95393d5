#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace jobq::config {
namespace {

absl::Status Bad(const std::string& key, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("config: ", key, ": ", what));
}

absl::Status GetString(const YAML::Node& n, const std::string& key,
                       std::string* out) {
  if (!n.IsScalar()) return Bad(key, "must be a string");
  *out = n.Scalar();
  return absl::OkStatus();
}

absl::Status GetDuration(const YAML::Node& n, const std::string& key,
                         DurationUs* out) {
  if (!n.IsScalar() || !ParseDurationText(n.Scalar(), out)) {
    return Bad(key, "must be a duration such as 30s or 250ms");
  }
  return absl::OkStatus();
}

absl::Status GetSize(const YAML::Node& n, const std::string& key, size_t* out) {
  if (!n.IsScalar() || !ParseSizeText(n.Scalar(), out)) {
    return Bad(key, "must be a size such as 1048576 or 1MiB");
  }
  return absl::OkStatus();
}

absl::Status GetBool(const YAML::Node& n, const std::string& key, bool* out) {
  if (n.IsScalar()) {
    const std::string& v = n.Scalar();
    if (v == "true" || v == "yes" || v == "on") {
      *out = true;
      return absl::OkStatus();
    }
    if (v == "false" || v == "no" || v == "off") {
      *out = false;
      return absl::OkStatus();
    }
  }
  return Bad(key, "must be true or false");
}

absl::Status GetRate(const YAML::Node& n, const std::string& key, double* out) {
  if (!n.IsScalar() || !absl::SimpleAtod(n.Scalar(), out) || !(*out >= 0) ||
      *out > 1e9) {
    return Bad(key, "must be a number between 0 and 1e9");
  }
  return absl::OkStatus();
}

absl::Status ParseLimits(const YAML::Node& n, const std::string& key,
                         CommandLimits* out) {
  if (!n.IsMap())
    return Bad(key, "must be a map of cpu, address_space, open_files");
  for (const auto& kv : n) {
    std::string k = kv.first.as<std::string>();
    std::string name = key + "." + k;
    absl::Status s;
    if (k == "cpu") {
      s = GetDuration(kv.second, name, &out->cpu);
      if (s.ok() && out->cpu > 0 && out->cpu < kSecond) {
        s = Bad(name, "at least 1s (the kernel counts whole seconds)");
      }
    } else if (k == "address_space") {
      s = GetSize(kv.second, name, &out->address_space);
    } else if (k == "open_files") {
      s = GetSize(kv.second, name, &out->open_files);
    } else {
      s = Bad(name, "unknown key (cpu, address_space, open_files)");
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ParseCommand(const std::string& name, const YAML::Node& n,
                          CommandConfig* cmd) {
  std::string key = "commands." + name;
  if (!n.IsMap()) return Bad(key, "must be a map");
  cmd->name = name;
  static const std::set<std::string> kKnown = {
      "argv", "env", "cwd", "timeout", "max_output", "limits"};
  for (const auto& kv : n) {
    std::string k = kv.first.as<std::string>();
    if (!kKnown.count(k)) return Bad(key + "." + k, "unknown key");
  }
  const YAML::Node argv = n["argv"];
  if (!argv || !argv.IsSequence() || argv.size() == 0) {
    return Bad(key + ".argv", "must be a non-empty list of strings");
  }
  for (const auto& a : argv) {
    if (!a.IsScalar()) return Bad(key + ".argv", "must be a list of strings");
    cmd->argv.push_back(a.Scalar());
  }
  if (cmd->argv[0].empty() || cmd->argv[0][0] != '/') {
    return Bad(key + ".argv", "the program must be an absolute path");
  }
  if (const YAML::Node env = n["env"]) {
    if (!env.IsMap()) return Bad(key + ".env", "must be a map");
    for (const auto& kv : env) {
      cmd->env[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  }
  if (const YAML::Node cwd = n["cwd"]) {
    if (auto s = GetString(cwd, key + ".cwd", &cmd->cwd); !s.ok()) return s;
  }
  if (const YAML::Node t = n["timeout"]) {
    if (auto s = GetDuration(t, key + ".timeout", &cmd->timeout); !s.ok()) {
      return s;
    }
  }
  if (const YAML::Node m = n["max_output"]) {
    if (auto s = GetSize(m, key + ".max_output", &cmd->max_output); !s.ok()) {
      return s;
    }
    if (cmd->max_output > kMaxCommandOutput) {
      return Bad(key + ".max_output", "must be at most 4MiB");
    }
  }
  if (const YAML::Node l = n["limits"]) {
    return ParseLimits(l, key + ".limits", &cmd->limits);
  }
  return absl::OkStatus();
}

absl::Status ParseRoot(const YAML::Node& root, ServerConfig* c) {
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) return Bad("(top level)", "must be a map");
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    absl::Status s;
    if (key == "listen") {
      s = GetString(v, key, &c->listen);
    } else if (key == "http_listen") {
      s = GetString(v, key, &c->http_listen);
    } else if (key == "workers") {
      int n = 0;
      if (!v.IsScalar() || !absl::SimpleAtoi(v.Scalar(), &n) || n < 0 ||
          n > 256) {
        s = Bad(key, "must be an integer between 0 and 256");
      } else {
        c->workers = n;
      }
    } else if (key == "max_payload") {
      s = GetSize(v, key, &c->max_payload);
    } else if (key == "retention") {
      s = GetDuration(v, key, &c->retention);
    } else if (key == "max_finished") {
      s = GetSize(v, key, &c->max_finished);
    } else if (key == "shutdown_grace") {
      s = GetDuration(v, key, &c->shutdown_grace);
    } else if (key == "lease") {
      s = GetDuration(v, key, &c->lease);
      if (s.ok() && c->lease < kSecond) s = Bad(key, "must be at least 1s");
    } else if (key == "log_level") {
      s = GetString(v, key, &c->log_level);
    } else if (key == "log_format") {
      s = GetString(v, key, &c->log_format);
    } else if (key == "stream_buffer") {
      s = GetSize(v, key, &c->stream_buffer);
    } else if (key == "max_stream_memory") {
      s = GetSize(v, key, &c->max_stream_memory);
    } else if (key == "max_running") {
      s = GetSize(v, key, &c->max_running);
    } else if (key == "max_queued") {
      s = GetSize(v, key, &c->max_queued);
    } else if (key == "tls_cert") {
      s = GetString(v, key, &c->tls_cert);
    } else if (key == "tls_key") {
      s = GetString(v, key, &c->tls_key);
    } else if (key == "tls_client_ca") {
      s = GetString(v, key, &c->tls_client_ca);
    } else if (key == "auth_tokens") {
      s = GetString(v, key, &c->auth_tokens);
    } else if (key == "insecure") {
      s = GetBool(v, key, &c->insecure);
    } else if (key == "metrics_public") {
      s = GetBool(v, key, &c->metrics_public);
    } else if (key == "submit_rate") {
      s = GetRate(v, key, &c->submit_rate);
    } else if (key == "submit_burst") {
      s = GetRate(v, key, &c->submit_burst);
    } else if (key == "max_connections") {
      s = GetSize(v, key, &c->max_connections);
    } else if (key == "max_streams_per_connection") {
      s = GetSize(v, key, &c->max_streams_per_connection);
    } else if (key == "max_message_size") {
      s = GetSize(v, key, &c->max_message_size);
    } else if (key == "max_watchers_per_queue") {
      s = GetSize(v, key, &c->max_watchers_per_queue);
    } else if (key == "command_user") {
      s = GetString(v, key, &c->command_user);
    } else if (key == "command_group") {
      s = GetString(v, key, &c->command_group);
    } else if (key == "command_limits") {
      s = ParseLimits(v, key, &c->command_limits);
    } else if (key == "data_dir") {
      s = GetString(v, key, &c->data_dir);
    } else if (key == "sync") {
      s = GetString(v, key, &c->sync);
    } else if (key == "recover") {
      s = GetString(v, key, &c->recover);
    } else if (key == "compact_min_bytes") {
      s = GetSize(v, key, &c->compact_min_bytes);
    } else if (key == "commands") {
      if (!v.IsMap()) {
        s = Bad(key, "must be a map of kind name to command");
      } else {
        for (const auto& cmd : v) {
          std::string name = cmd.first.as<std::string>();
          CommandConfig parsed;
          s = ParseCommand(name, cmd.second, &parsed);
          if (!s.ok()) break;
          c->commands[name] = std::move(parsed);
        }
      }
    } else {
      s = Bad(key, "unknown key");
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

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
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& [key, value] : flags) root[key] = value;
  absl::Status s = ParseRoot(root, config);
  if (s.ok()) return s;
  // "config: max_payload: ..." becomes "--max-payload: ...".
  std::string message(s.message());
  constexpr absl::string_view kPrefix = "config: ";
  if (absl::StartsWith(message, kPrefix)) message.erase(0, kPrefix.size());
  size_t colon = message.find(':');
  for (size_t i = 0; i < colon && i < message.size(); ++i) {
    if (message[i] == '_') message[i] = '-';
  }
  return absl::InvalidArgumentError("--" + message);
}

absl::Status ValidateConfig(const ServerConfig& c) {
  if (c.sync != "fsync" && c.sync != "none") {
    return Bad("sync", "fsync or none");
  }
  if (c.recover != "strict" && c.recover != "skip-corrupt") {
    return Bad("recover", "strict or skip-corrupt");
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
