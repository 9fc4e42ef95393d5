#include "core/builtin_kinds.h"

#include "absl/time/time.h"

namespace jobq::core {

bool ParseSleepPayload(absl::string_view payload, DurationUs* out) {
  absl::Duration d;
  if (payload.empty() || !absl::ParseDuration(payload, &d)) return false;
  if (d < absl::ZeroDuration() || d > absl::Hours(24 * 366)) return false;
  *out = absl::ToInt64Microseconds(d);
  return true;
}

}  // namespace jobq::core
