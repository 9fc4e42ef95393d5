#pragma once

// The table of jobqd's configuration keys: the one place a key is added.
// Each row names the key, where its value goes in ServerConfig (which also
// says how its text is read), its default, its help and, unless the key is
// file-only, its flag. From the table come:
//   - the YAML file's keys (ParseConfigYaml reads nothing else),
//   - the flags and their JOBQ_* variables (command_line.h),
//   - the defaults of a ServerConfig (its constructor),
//   - `jobqd --help` and the README's table (`jobqd --print-config-reference`).
// Precedence, kept by command_line.cc: a flag on the command line, then its
// variable, then the file, then the default.
//
// Thread: the table is immutable; any thread may read it.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <string>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "config/config.h"

namespace jobq::config {

// Where a key's value goes. The alternative says how its text is read:
//   std::string  as written;
//   int          an integer in [min, max];
//   size_t       a size or count: "1048576", "64KiB", "1MiB";
//   DurationUs   "30s", "250ms", "1h30m"; at least `min` microseconds;
//   bool         true/yes/on, false/no/off; as a flag it takes no value;
//   double       a rate: a number in [0, 1e9];
//   CommandLimits, the command and queue maps: YAML maps, file only.
using ConfigField =
    std::variant<std::string ServerConfig::*, int ServerConfig::*,
                 size_t ServerConfig::*, DurationUs ServerConfig::*,
                 bool ServerConfig::*, double ServerConfig::*,
                 CommandLimits ServerConfig::*,
                 std::map<std::string, CommandConfig> ServerConfig::*,
                 std::map<std::string, QueueConfig> ServerConfig::*>;

struct ConfigKey {
  // The YAML key; the flag is "--" and the name with - for _, the variable
  // JOBQ_ and the flag's name in capitals with _ for - (FlagName, EnvName).
  const char* name;
  ConfigField field;
  // Read as the file's value is; nullptr: the field's own (file-only keys).
  const char* default_value;
  // How --help and the docs state the default when its value alone does not
  // say it well ("one per core" for workers: 0); nullptr: the value.
  const char* default_shown;
  // One line; `backquotes` mark code in the README and are dropped in --help.
  const char* help;
  // The flag's name without "--" when it differs from the derived one.
  const char* flag = nullptr;
  // No flag and no variable: a structured value only the file can hold.
  bool file_only = false;
  // Bounds: [min, max] of an int; the least duration (0: none).
  int64_t min = 0;
  int64_t max = 0;
};

// The flag naming the YAML file; it has a variable (EnvNameOfFlag) but is
// no key of the file.
inline constexpr char kConfigFileFlag[] = "--config";

// Every key, in the order of --help and the docs.
absl::Span<const ConfigKey> ConfigKeys();
// The key named `name` (as in the file), or nullptr.
const ConfigKey* FindConfigKey(absl::string_view name);

// "--max-payload"; empty for a file-only key.
std::string FlagName(const ConfigKey& key);
// "JOBQ_MAX_PAYLOAD"; empty for a file-only key.
std::string EnvName(const ConfigKey& key);
// The variable of a flag named "--compact-min": "JOBQ_COMPACT_MIN".
std::string EnvNameOfFlag(absl::string_view flag);
// The default as --help and the docs state it; empty when there is none.
std::string ShownDefault(const ConfigKey& key);

// Reads `value` into the key's field; INVALID_ARGUMENT
// "config: NAME: ..." when it does not fit.
[[nodiscard]] absl::Status SetConfigKey(const ConfigKey& key,
                                        const YAML::Node& value,
                                        ServerConfig* config);

// The flag, variable, YAML key, default and meaning of every key (and of
// --config) as a Markdown table: the README's, printed by
// `jobqd --print-config-reference`.
std::string ConfigReferenceMarkdown();

}  // namespace jobq::config
