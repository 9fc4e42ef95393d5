// Fuzz target: the write-ahead log's recovery path. The first byte picks
// the input's form:
//   even: a segment file as it lies on disk (header, framed records), read
//         with LogReader as recovery does;
//   odd:  transitions (each a 2-byte length and protobuf bytes), framed
//         with valid checksums, so that they reach the decoder and the
//         Scheduler's replay.
// Every decoded transition is applied to a Scheduler, then running jobs are
// requeued, as after a crash. No input may crash or hang either.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/scheduler.h"
#include "jobq/wal/v1/transition.pb.h"
#include "store/log_format.h"
#include "store/log_reader.h"

namespace {

constexpr jobq::TimeUs kNow = 1'700'000'000LL * 1'000'000;

void Replay(absl::string_view segment) {
  jobq::store::LogReader reader(segment);
  if (!reader.ReadHeader().ok()) return;
  jobq::core::SchedulerOptions options;
  options.random = [] { return 0.5; };
  options.max_finished = 64;
  jobq::core::Scheduler scheduler(std::move(options), nullptr);
  jobq::store::log::RecordType type;
  absl::string_view body;
  jobq::wal::v1::Transition t;
  while (reader.Next(&type, &body) == jobq::store::LogReader::kRecord) {
    if (type != jobq::store::log::kTransition ||
        !t.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      break;  // Recovery stops here: an undecodable record.
    }
    scheduler.Apply(t);
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
