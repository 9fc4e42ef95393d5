#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

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

absl::Status ParseCommand(const std::string& name, const YAML::Node& n,
                          CommandConfig* cmd) {
  std::string key = "commands." + name;
  if (!n.IsMap()) return Bad(key, "must be a map");
  cmd->name = name;
  static const std::set<std::string> kKnown = {"argv", "env", "cwd", "timeout",
                                               "max_output"};
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
