#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::api {

inline constexpr size_t kMaxLabels = 32;
inline constexpr size_t kMaxLabelKey = 63;
inline constexpr size_t kMaxLabelValue = 255;
inline constexpr size_t kMaxIdempotencyKey = 255;
inline constexpr size_t kMaxBatch = 10'000;
// Parents one job may name (JobSpec.depends_on).
inline constexpr size_t kMaxParents = 100'000;
inline constexpr DurationUs kMaxDelay = 366LL * 24 * 3600 * kSecond;

inline constexpr char kQueuePattern[] = "[a-z0-9][a-z0-9._-]{0,63}";
inline constexpr char kKindPattern[] = "[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}";

struct ValidationLimits {
  size_t max_payload = 1 << 20;
  // Where `run_at` is measured from: it may be at most kMaxDelay ahead, as
  // `delay` may. Null: the system clock.
  const Clock* clock = nullptr;
};

// `text` as it may appear in an error message: at most 80 bytes of it, in
// double quotes, with control characters, quotes and bytes past ASCII
// escaped (absl::CEscape), so that a client's string can neither forge
// lines of a log nor break a terminal.
std::string Quoted(absl::string_view text);

bool IsValidQueueName(absl::string_view name);
// Any kind of that form is accepted: jobqd runs its own kinds and configured
// commands, and jobs of other kinds wait for a remote worker.
bool IsValidKindName(absl::string_view kind);

// Checks a queue name given on its own (admin calls, filters). `field` names
// it in the error.
[[nodiscard]] absl::Status ValidateQueueName(absl::string_view name,
                                             absl::string_view field);

// Label keys: 1 to kMaxLabelKey bytes, printable ASCII other than '=' and
// space (a label is written key=value). Values: up to kMaxLabelValue bytes
// with no control characters (UTF-8 is fine). `field` names the map.
[[nodiscard]] absl::Status ValidateLabels(
    const google::protobuf::Map<std::string, std::string>& labels,
    absl::string_view field);

// The parents of a spec: at most kMaxParents, each a job id named once.
// (Whether they exist is the core's to say.)
[[nodiscard]] absl::Status ValidateParents(const v1::JobSpec& spec,
                                           absl::string_view prefix);

// Checks every field of a submitted spec and fills in defaults (an empty
// queue becomes "default"). Errors are INVALID_ARGUMENT naming the field,
// prefixed by `prefix` (such as "jobs[3].").
// Thread: any; `limits` is read only.
[[nodiscard]] absl::Status ValidateSpec(v1::JobSpec& spec,
                                        const ValidationLimits& limits,
                                        absl::string_view prefix = "job.");

// Checks a list of states to watch: each a JobState other than UNSPECIFIED.
[[nodiscard]] absl::Status ValidateStates(
    const google::protobuf::RepeatedField<int>& states,
    absl::string_view field);

}  // namespace jobq::api
