#pragma once

// jobqd's command line, made from the key table (config_keys.h): a flag
// for every key that is not file-only, each also read from its JOBQ_*
// variable, and --config (JOBQ_CONFIG), --version, --help and
// --print-config-reference.
//
// Precedence: a flag on the command line, then its variable (an empty
// variable counts as unset), then the YAML file of --config, then the
// table's default. Flags and variables are read as the file's values are,
// and their errors name the flag.
//
// Thread: any; reads the process's environment.

#include <optional>
#include <ostream>
#include <string>

#include "config/config.h"

namespace jobq::config {

struct CommandLineOutcome {
  // Set when jobqd stops at once with this exit code, having written why:
  // 0 after --help, --version or --print-config-reference (to `out`); a
  // usage error (CLI11's code) or 2 for a bad value or file (to `err`).
  std::optional<int> exit_code;
  // Otherwise: the defaults, the file, the variables and the flags,
  // validated (ValidateConfig).
  ServerConfig config;
};

CommandLineOutcome ReadCommandLine(int argc, const char* const* argv,
                                   std::ostream& out, std::ostream& err);

// What `jobqd --help` prints.
std::string CommandLineHelp();

}  // namespace jobq::config
