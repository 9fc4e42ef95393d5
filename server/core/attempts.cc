#include "core/attempts.h"

#include <utility>

#include "common/time_proto.h"

namespace jobq::core {
namespace {

// `s` cut to at most `max` bytes without splitting a UTF-8 sequence.
void CutUtf8(std::string* s, size_t max) {
  if (s->size() <= max) return;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>((*s)[n]) & 0xC0) == 0x80) --n;
  s->resize(n);
}

}  // namespace

void AttemptHistory::Add(uint64_t seq, AttemptRecord run) {
  CutUtf8(&run.error, kMaxError);
  Runs& runs = jobs_[seq];
  if (runs.kept.size() >= kKept) {
    runs.kept.erase(runs.kept.begin());
    ++runs.dropped;
  }
  runs.kept.push_back(std::move(run));
}

void AttemptHistory::Restore(
    uint64_t seq, const google::protobuf::RepeatedPtrField<v1::Attempt>& in) {
  if (in.empty()) {
    jobs_.erase(seq);
    return;
  }
  Runs& runs = jobs_[seq];
  runs.kept.clear();
  runs.dropped = in[0].dropped_before();
  for (const v1::Attempt& a : in) {
    AttemptRecord r;
    r.number = a.number();
    r.started_at = a.has_started_at() ? TimeFromProto(a.started_at()) : 0;
    r.finished_at = a.has_finished_at() ? TimeFromProto(a.finished_at()) : 0;
    r.worker = a.worker();
    r.error = a.error();
    CutUtf8(&r.error, kMaxError);
    r.exit_code = a.exit_code();
    r.outcome = a.outcome();
    runs.kept.push_back(std::move(r));
  }
  // A snapshot holds at most kKept; a longer one keeps its last.
  if (runs.kept.size() > kKept) {
    size_t extra = runs.kept.size() - kKept;
    runs.kept.erase(runs.kept.begin(), runs.kept.begin() + extra);
    runs.dropped += static_cast<int32_t>(extra);
  }
}

void AttemptHistory::RecordToProto(const AttemptRecord& run, v1::Attempt* out) {
  out->set_number(run.number);
  if (run.started_at > 0)
    TimeToProto(run.started_at, out->mutable_started_at());
  if (run.finished_at > 0) {
    TimeToProto(run.finished_at, out->mutable_finished_at());
  }
  out->set_worker(run.worker);
  out->set_outcome(run.outcome);
  out->set_error(run.error);
  out->set_exit_code(run.exit_code);
}

void AttemptHistory::ToProto(
    uint64_t seq, google::protobuf::RepeatedPtrField<v1::Attempt>* out) const {
  auto it = jobs_.find(seq);
  if (it == jobs_.end()) return;
  bool first = true;
  for (const AttemptRecord& run : it->second.kept) {
    v1::Attempt* a = out->Add();
    RecordToProto(run, a);
    if (first && it->second.dropped > 0)
      a->set_dropped_before(it->second.dropped);
    first = false;
  }
}

}  // namespace jobq::core
