#pragma once

// The file-only sections of jobqd's configuration: the command kinds
// (`commands`) and the resource limits of commands (`command_limits`, and
// each command's `limits`). Errors name the nested key, e.g.
// "config: commands.resize.argv: ...".

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "absl/status/status.h"
#include "config/config.h"

namespace jobq::config {

// Reads a map of cpu, address_space and open_files into `out`, leaving the
// keys it does not name alone.
[[nodiscard]] absl::Status ReadCommandLimits(const YAML::Node& n,
                                             const std::string& key,
                                             CommandLimits* out);

// Reads a map of kind name to command into `out`, one kind at a time: the
// kinds read before an error stay.
[[nodiscard]] absl::Status ReadCommands(
    const YAML::Node& n, const std::string& key,
    std::map<std::string, CommandConfig>* out);

}  // namespace jobq::config
