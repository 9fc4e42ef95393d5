#pragma once

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "common/clock.h"

namespace jobq {

// Conversions between the core's microsecond integers and protobuf types.
inline void TimeToProto(TimeUs t, google::protobuf::Timestamp* out) {
  out->set_seconds(t / kSecond - (t % kSecond < 0 ? 1 : 0));
  int64_t rem = t % kSecond;
  if (rem < 0) rem += kSecond;
  out->set_nanos(static_cast<int32_t>(rem * 1000));
}

inline void DurationToProto(DurationUs d, google::protobuf::Duration* out) {
  out->set_seconds(d / kSecond);
  out->set_nanos(static_cast<int32_t>((d % kSecond) * 1000));
}

inline TimeUs TimeFromProto(const google::protobuf::Timestamp& t) {
  return t.seconds() * kSecond + t.nanos() / 1000;
}

inline DurationUs DurationFromProto(const google::protobuf::Duration& d) {
  return d.seconds() * kSecond + d.nanos() / 1000;
}

}  // namespace jobq
