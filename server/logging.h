#pragma once

#include <string>

#include "absl/status/status.h"

namespace jobq {

// Sets up the default spdlog logger on stderr: `level` is one of trace,
// debug, info, warn, error; `format` is "text" or "json" (one JSON object
// per line with time, level and msg).
[[nodiscard]] absl::Status SetUpLogging(const std::string& level,
                                        const std::string& format);

}  // namespace jobq
