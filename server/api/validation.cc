#include "api/validation.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/time_proto.h"
#include "core/backoff.h"
#include "core/builtin_kinds.h"
#include "core/job.h"

namespace jobq::api {
namespace {

absl::Status Invalid(absl::string_view prefix, absl::string_view field,
                     absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(prefix, field, ": ", what));
}

bool IsLower(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// A Duration is well formed when nanos are in range and its parts agree in
// sign (as google/protobuf/duration.proto requires).
bool IsWellFormed(const google::protobuf::Duration& d) {
  if (d.nanos() <= -1'000'000'000 || d.nanos() >= 1'000'000'000) return false;
  if ((d.seconds() > 0 && d.nanos() < 0) || (d.seconds() < 0 && d.nanos() > 0))
    return false;
  return d.seconds() >= -315'576'000'000LL && d.seconds() <= 315'576'000'000LL;
}

// Checked on the parts before any conversion: a negative part is refused
// even when it would round to zero microseconds (-1ns), and a huge one
// before it could overflow.
absl::Status CheckDuration(const google::protobuf::Duration& d,
                           absl::string_view prefix, absl::string_view field,
                           DurationUs max) {
  if (!IsWellFormed(d)) {
    return Invalid(prefix, field,
                   absl::StrCat("malformed duration (seconds ", d.seconds(),
                                ", nanos ", d.nanos(), ")"));
  }
  if (d.seconds() < 0 || d.nanos() < 0) {
    return Invalid(prefix, field, "must not be negative");
  }
  if (d.seconds() > max / kSecond || DurationFromProto(d) > max) {
    return Invalid(prefix, field,
                   absl::StrCat("must be at most ",
                                absl::FormatDuration(absl::Microseconds(max))));
  }
  return absl::OkStatus();
}

bool IsControl(char c) {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

}  // namespace

std::string Quoted(absl::string_view text) {
  std::string out = absl::StrCat("\"", absl::CEscape(text.substr(0, 80)));
  if (text.size() > 80) out += "...";
  out += "\"";
  return out;
}

absl::Status ValidateLabels(
    const google::protobuf::Map<std::string, std::string>& labels,
    absl::string_view field) {
  if (labels.size() > kMaxLabels) {
    return Invalid("", field,
                   absl::StrCat(labels.size(), " labels exceed the limit of ",
                                kMaxLabels));
  }
  for (const auto& [key, value] : labels) {
    if (key.empty() || key.size() > kMaxLabelKey) {
      return Invalid("", field,
                     absl::StrCat("key ", Quoted(key), " must be 1 to ",
                                  kMaxLabelKey, " bytes"));
    }
    for (char c : key) {
      if (IsControl(c) || c == '=' || c == ' ' ||
          static_cast<unsigned char>(c) >= 0x80) {
        return Invalid("", field,
                       absl::StrCat("key ", Quoted(key),
                                    ": printable ASCII only, without '=' "
                                    "or spaces"));
      }
    }
    if (value.size() > kMaxLabelValue) {
      return Invalid("", field,
                     absl::StrCat("value of ", Quoted(key), " is longer than ",
                                  kMaxLabelValue, " bytes"));
    }
    if (std::any_of(value.begin(), value.end(), IsControl)) {
      return Invalid(
          "", field,
          absl::StrCat("value of ", Quoted(key), " has a control character"));
    }
  }
  return absl::OkStatus();
}

bool IsValidQueueName(absl::string_view name) {
  if (name.empty() || name.size() > 64 || !IsLower(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(), [](char c) {
    return IsLower(c) || c == '.' || c == '_' || c == '-';
  });
}

bool IsValidKindName(absl::string_view kind) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
  };
  if (kind.empty() || kind.size() > 128 || !alnum(kind[0])) return false;
  return std::all_of(kind.begin() + 1, kind.end(), [&](char c) {
    return alnum(c) || c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
  });
}

absl::Status ValidateQueueName(absl::string_view name,
                               absl::string_view field) {
  if (IsValidQueueName(name)) return absl::OkStatus();
  return Invalid("", field,
                 absl::StrCat(Quoted(name), " does not match ", kQueuePattern));
}

absl::Status ValidateStates(const google::protobuf::RepeatedField<int>& states,
                            absl::string_view field) {
  for (int i = 0; i < states.size(); ++i) {
    if (!v1::JobState_IsValid(states[i]) ||
        states[i] == v1::JOB_STATE_UNSPECIFIED) {
      return Invalid("", absl::StrCat(field, "[", i, "]"),
                     absl::StrCat(states[i], " is not a job state"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSpec(v1::JobSpec& spec, const ValidationLimits& limits,
                          absl::string_view prefix) {
  if (spec.queue().empty()) spec.set_queue("default");
  if (!IsValidQueueName(spec.queue())) {
    return Invalid(
        prefix, "queue",
        absl::StrCat(Quoted(spec.queue()), " does not match ", kQueuePattern));
  }
  if (spec.kind().empty()) return Invalid(prefix, "kind", "must not be empty");
  if (!IsValidKindName(spec.kind())) {
    return Invalid(
        prefix, "kind",
        absl::StrCat(Quoted(spec.kind()), " does not match ", kKindPattern));
  }
  if (spec.payload().size() > limits.max_payload) {
    return Invalid(prefix, "payload",
                   absl::StrCat(spec.payload().size(), " bytes exceeds the ",
                                limits.max_payload, "-byte limit"));
  }
  DurationUs ignored;
  if (spec.kind() == "sleep" &&
      !core::ParseSleepPayload(spec.payload(), &ignored)) {
    return Invalid(prefix, "payload",
                   "sleep needs a duration such as \"250ms\" or \"2s\"");
  }
  if (spec.has_delay()) {
    if (auto s = CheckDuration(spec.delay(), prefix, "delay", kMaxDelay);
        !s.ok()) {
      return s;
    }
  }
  if (spec.has_run_at()) {
    const auto& t = spec.run_at();
    if (t.seconds() < 0 || t.seconds() > 253'402'300'799LL || t.nanos() < 0 ||
        t.nanos() >= 1'000'000'000) {
      return Invalid(prefix, "run_at", "malformed timestamp");
    }
    // The same horizon as `delay`: a job due in centuries is a mistake, and
    // one the log would carry forever.
    static const SystemClock kSystemClock;
    const Clock& clock = limits.clock != nullptr ? *limits.clock : kSystemClock;
    if (TimeFromProto(t) > clock.Now() + kMaxDelay) {
      return Invalid(
          prefix, "run_at",
          absl::StrCat("must be at most ",
                       absl::FormatDuration(absl::Microseconds(kMaxDelay)),
                       " from now"));
    }
  }
  if (spec.has_timeout()) {
    if (auto s = CheckDuration(spec.timeout(), prefix, "timeout", kMaxDelay);
        !s.ok()) {
      return s;
    }
  }
  if (spec.has_retry()) {
    const auto& r = spec.retry();
    if (r.max_attempts() < 0 || r.max_attempts() > core::kMaxAttemptsLimit) {
      return Invalid(
          prefix, "retry.max_attempts",
          absl::StrCat("must be between 0 and ", core::kMaxAttemptsLimit));
    }
    if (r.has_initial_backoff()) {
      if (auto s = CheckDuration(r.initial_backoff(), prefix,
                                 "retry.initial_backoff", kMaxDelay);
          !s.ok()) {
        return s;
      }
    }
    if (r.has_max_backoff()) {
      if (auto s = CheckDuration(r.max_backoff(), prefix, "retry.max_backoff",
                                 kMaxDelay);
          !s.ok()) {
        return s;
      }
    }
    if (r.multiplier() != 0 &&
        (!std::isfinite(r.multiplier()) || r.multiplier() < 1.0 ||
         r.multiplier() > 10.0)) {
      return Invalid(prefix, "retry.multiplier", "must be between 1 and 10");
    }
  }
  if (spec.idempotency_key().size() > kMaxIdempotencyKey) {
    return Invalid(prefix, "idempotency_key",
                   absl::StrCat("longer than ", kMaxIdempotencyKey, " bytes"));
  }
  if (absl::Status s =
          ValidateLabels(spec.labels(), absl::StrCat(prefix, "labels"));
      !s.ok()) {
    return s;
  }
  return ValidateParents(spec, prefix);
}

absl::Status ValidateParents(const v1::JobSpec& spec,
                             absl::string_view prefix) {
  size_t n = static_cast<size_t>(spec.depends_on_size()) +
             static_cast<size_t>(spec.depends_on_index_size());
  if (n > kMaxParents) {
    return Invalid(
        prefix, "depends_on",
        absl::StrCat(n, " parents exceed the limit of ", kMaxParents));
  }
  absl::flat_hash_set<uint64_t> seen;
  for (int i = 0; i < spec.depends_on_size(); ++i) {
    uint64_t seq;
    if (!core::ParseJobId(spec.depends_on(i), &seq)) {
      return Invalid(prefix, absl::StrCat("depends_on[", i, "]"),
                     absl::StrCat(Quoted(spec.depends_on(i)),
                                  " is not a job id (16 hex digits)"));
    }
    if (!seen.insert(seq).second) {
      return Invalid(
          prefix, absl::StrCat("depends_on[", i, "]"),
          absl::StrCat("job ", spec.depends_on(i), " is named twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace jobq::api
