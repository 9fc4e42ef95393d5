#pragma once

// Reading one YAML value of each kind jobqd's configuration has. Every
// error is INVALID_ARGUMENT and starts with "config: KEY: ", so that a
// message names the key it is about (ApplyFlags turns it into the flag).
// Used by the key table and the command kinds; not part of config.h's API.

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "common/clock.h"

namespace jobq::config {

// INVALID_ARGUMENT "config: KEY: WHAT".
absl::Status Bad(const std::string& key, const std::string& what);

// Any scalar, as written.
[[nodiscard]] absl::Status ReadString(const YAML::Node& n,
                                      const std::string& key, std::string* out);
// An integer in [min, max].
[[nodiscard]] absl::Status ReadInt(const YAML::Node& n, const std::string& key,
                                   int min, int max, int* out);
// "30s", "250ms", "1h30m" (ParseDurationText).
[[nodiscard]] absl::Status ReadDuration(const YAML::Node& n,
                                        const std::string& key,
                                        DurationUs* out);
// "1048576", "64KiB", "1MiB" (ParseSizeText).
[[nodiscard]] absl::Status ReadSize(const YAML::Node& n, const std::string& key,
                                    size_t* out);
// true/yes/on or false/no/off.
[[nodiscard]] absl::Status ReadBool(const YAML::Node& n, const std::string& key,
                                    bool* out);
// A number in [0, 1e9] (jobs per second, or a burst of jobs).
[[nodiscard]] absl::Status ReadRate(const YAML::Node& n, const std::string& key,
                                    double* out);

}  // namespace jobq::config
