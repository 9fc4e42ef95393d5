#include "config/command_kinds.h"

#include <set>
#include <utility>

#include "config/yaml_values.h"

namespace jobq::config {
namespace {

absl::Status ReadCommand(const std::string& name, const YAML::Node& n,
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
    if (auto s = ReadString(cwd, key + ".cwd", &cmd->cwd); !s.ok()) return s;
  }
  if (const YAML::Node t = n["timeout"]) {
    if (auto s = ReadDuration(t, key + ".timeout", &cmd->timeout); !s.ok()) {
      return s;
    }
  }
  if (const YAML::Node m = n["max_output"]) {
    if (auto s = ReadSize(m, key + ".max_output", &cmd->max_output); !s.ok()) {
      return s;
    }
    if (cmd->max_output > kMaxCommandOutput) {
      return Bad(key + ".max_output", "must be at most 4MiB");
    }
  }
  if (const YAML::Node l = n["limits"]) {
    return ReadCommandLimits(l, key + ".limits", &cmd->limits);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadCommandLimits(const YAML::Node& n, const std::string& key,
                               CommandLimits* out) {
  if (!n.IsMap()) {
    return Bad(key, "must be a map of cpu, address_space, open_files");
  }
  for (const auto& kv : n) {
    std::string k = kv.first.as<std::string>();
    std::string name = key + "." + k;
    absl::Status s;
    if (k == "cpu") {
      s = ReadDuration(kv.second, name, &out->cpu);
      if (s.ok() && out->cpu > 0 && out->cpu < kSecond) {
        s = Bad(name, "at least 1s (the kernel counts whole seconds)");
      }
    } else if (k == "address_space") {
      s = ReadSize(kv.second, name, &out->address_space);
    } else if (k == "open_files") {
      s = ReadSize(kv.second, name, &out->open_files);
    } else {
      s = Bad(name, "unknown key (cpu, address_space, open_files)");
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ReadCommands(const YAML::Node& n, const std::string& key,
                          std::map<std::string, CommandConfig>* out) {
  if (!n.IsMap()) return Bad(key, "must be a map of kind name to command");
  for (const auto& kv : n) {
    std::string name = kv.first.as<std::string>();
    CommandConfig parsed;
    if (auto s = ReadCommand(name, kv.second, &parsed); !s.ok()) return s;
    (*out)[name] = std::move(parsed);
  }
  return absl::OkStatus();
}

}  // namespace jobq::config
