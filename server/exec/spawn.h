#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace jobq::exec {

// How commands are started: as whom, and through which program their
// resource limits are applied.
struct SpawnOptions {
  // Set when jobqd runs as root: the unprivileged user and group commands
  // run as (supplementary groups are dropped).
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  // The program that applies a command's limits, then executes it: jobqd
  // itself (see RunWithLimits). "/proc/self/exe" in the child is the
  // binary jobqd runs from, even if it has been replaced on disk since.
  std::string limiter = "/proc/self/exe";
};

// The user and group of `user` (and `group`, when not empty) for
// SpawnOptions, when jobqd runs as root; nothing otherwise.
// INVALID_ARGUMENT naming command_user or command_group for a name that
// does not exist or is root.
[[nodiscard]] absl::Status ResolveRunAs(const std::string& user,
                                        const std::string& group,
                                        SpawnOptions* options);

inline constexpr char kLimiterFlag[] = "--exec-with-limits";

// The argv that runs `argv` under `limits` through `limiter`:
//   limiter --exec-with-limits CPU_SECONDS AS_BYTES OPEN_FILES -- argv...
std::vector<std::string> LimitedArgv(const std::string& limiter,
                                     const config::CommandLimits& limits,
                                     const std::vector<std::string>& argv);

// jobqd started as `jobqd --exec-with-limits ...`: sets the limits
// (setrlimit; 0 leaves one alone) and executes the command in place, with
// the environment it was given. Returns only on failure (126 for bad
// limits, 127 when the program cannot be run), after saying why on stderr.
int RunWithLimits(int argc, char** argv);

// Fills each command's limits that are 0 from `defaults`.
void ApplyDefaultLimits(const config::CommandLimits& defaults,
                        std::map<std::string, config::CommandConfig>* commands);

}  // namespace jobq::exec
