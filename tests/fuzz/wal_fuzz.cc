// Fuzz target: the write-ahead log's recovery path. The first byte picks
// the input's form:
//   even: a segment file as it lies on disk (header, framed records), read
//         with LogReader as recovery with --recover=skip-corrupt does,
//         resynchronising past every damaged stretch;
//   odd:  transitions (each a 2-byte length and protobuf bytes), framed
//         with valid checksums, so that they reach the decoder and the
//         Scheduler's replay.
// Every decoded transition is applied to a Scheduler, then running jobs are
// requeued, as after a crash. No input may crash or hang either.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/scheduler.h"
#include "jobq/wal/v1/transition.pb.h"
#include "store/log_format.h"
#include "store/log_reader.h"

namespace {

constexpr jobq::TimeUs kNow = 1'700'000'000LL * 1'000'000;

void Replay(absl::string_view segment) {
  jobq::store::LogReader reader(segment);
  absl::Status header = reader.ReadHeader();
  if (!header.ok() && !absl::IsDataLoss(header)) return;
  jobq::core::SchedulerOptions options;
  options.random = [] { return 0.5; };
  options.max_finished = 64;
  jobq::core::Scheduler scheduler(std::move(options), nullptr);
  // Read as --recover=skip-corrupt does: pass over every damaged stretch
  // (and a torn tail, as in an older segment) to the next good record.
  if (!header.ok()) reader.Skip();
  jobq::store::log::RecordType type;
  absl::string_view body;
  jobq::wal::v1::Transition t;
  uint64_t last_pos = 0;
  for (size_t steps = 0;; ++steps) {
    // Every step reads a record or skips at least one byte.
    if (steps > segment.size() + 2) std::abort();
    jobq::store::LogReader::Result r = reader.Next(&type, &body);
    if (r == jobq::store::LogReader::kRecord) {
      if (type == jobq::store::log::kTransition &&
          t.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
        scheduler.Apply(t);
      }
      continue;
    }
    if (r == jobq::store::LogReader::kEnd && !reader.torn()) break;
    jobq::store::LogReader::Skipped skipped = reader.Skip();
    if (skipped.bytes == 0 || skipped.offset < last_pos ||
        skipped.offset + skipped.bytes > segment.size()) {
      std::abort();
    }
    last_pos = skipped.offset + skipped.bytes;
  }
  scheduler.RequeueRunning(kNow);
  // Time moves on: promotions, retention; then jobs start.
  scheduler.Tick(kNow + 3600LL * 1'000'000);
  scheduler.TakeRunnable(kNow + 3600LL * 1'000'000, 1000);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    Replay(rest);
    return 0;
  }
  std::string segment = jobq::store::log::SegmentHeader();
  while (rest.size() >= 2) {
    size_t n =
        (static_cast<uint8_t>(rest[0]) << 8) | static_cast<uint8_t>(rest[1]);
    rest.remove_prefix(2);
    n = std::min(n, rest.size());
    jobq::store::log::AppendRecord(&segment, jobq::store::log::kTransition,
                                   rest.substr(0, n));
    rest.remove_prefix(n);
  }
  Replay(segment);
  return 0;
}
