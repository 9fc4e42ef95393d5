#pragma once

#include "absl/strings/string_view.h"
#include "common/clock.h"

namespace jobq::core {

// The payload of the built-in `sleep` kind: a duration such as "250ms",
// "2s" or "1m30s", from 0 to 366 days. False when it is not one.
[[nodiscard]] bool ParseSleepPayload(absl::string_view payload,
                                     DurationUs* out);

}  // namespace jobq::core
