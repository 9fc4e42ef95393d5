#include "core/job.h"

#include <algorithm>
#include <cstring>

#include "common/time_proto.h"
#include "core/backoff.h"

namespace jobq::core {

static_assert(kMaxAttemptsLimit <= 255, "Job::attempt is one byte");

const std::string* NameTable::Intern(absl::string_view name) {
  auto it = names_.find(name);
  if (it == names_.end()) it = names_.emplace(std::string(name)).first;
  return &*it;
}

const std::string& Job::Empty() {
  static const std::string* empty = new std::string();
  return *empty;
}

void Job::SetSpec(const v1::JobSpec& spec, NameTable& names) {
  queue_ = names.Intern(spec.queue());
  kind_ = names.Intern(spec.kind());
  priority_ = spec.priority();
  payload_.reset();
  payload_size_ = 0;
  const std::string& p = spec.payload();
  if (p.size() >= kPrefixedPayload) {
    uint32_t n = static_cast<uint32_t>(p.size());
    payload_.reset(static_cast<char*>(::operator new(sizeof n + n)));
    std::memcpy(payload_.get(), &n, sizeof n);
    std::memcpy(payload_.get() + sizeof n, p.data(), n);
    payload_size_ = kPrefixedPayload;
  } else if (!p.empty()) {
    payload_.reset(static_cast<char*>(::operator new(p.size())));
    std::memcpy(payload_.get(), p.data(), p.size());
    payload_size_ = static_cast<uint16_t>(p.size());
  }
  extras_.reset();
  if (!spec.idempotency_key().empty() || !spec.labels().empty() ||
      spec.has_retry() || spec.has_timeout() || spec.depends_on_size() > 0) {
    Extras& e = MutableExtras();
    e.idempotency_key = spec.idempotency_key();
    e.labels = spec.labels();
    e.has_retry = spec.has_retry();
    if (e.has_retry) e.retry = spec.retry();
    e.has_timeout = spec.has_timeout();
    if (e.has_timeout) e.timeout = spec.timeout();
    if (spec.depends_on_size() > 0) {
      auto parents = std::make_unique<Parents>();
      parents->links.reserve(spec.depends_on_size());
      for (const auto& id : spec.depends_on()) {
        uint64_t seq;
        if (ParseJobId(id, &seq))
          parents->links.push_back(ParentLink{seq, false, nullptr});
      }
      std::sort(parents->links.begin(), parents->links.end(),
                [](const ParentLink& a, const ParentLink& b) {
                  return a.seq < b.seq;
                });
      parents->links.erase(
          std::unique(parents->links.begin(), parents->links.end(),
                      [](const ParentLink& a, const ParentLink& b) {
                        return a.seq == b.seq;
                      }),
          parents->links.end());
      parents->missing = static_cast<uint32_t>(parents->links.size());
      if (!parents->links.empty()) e.parents = std::move(parents);
    }
  }
}

const std::vector<ParentLink>& Job::parents() const {
  static const auto* none = new std::vector<ParentLink>;
  return has_parents() ? extras_->parents->links : *none;
}

bool Job::ParentSucceeded(uint64_t parent, SharedBytes result) {
  if (!has_parents()) return false;
  auto& links = extras_->parents->links;
  auto it = std::lower_bound(
      links.begin(), links.end(), parent,
      [](const ParentLink& l, uint64_t seq) { return l.seq < seq; });
  if (it == links.end() || it->seq != parent || it->succeeded) return false;
  it->succeeded = true;
  it->result = std::move(result);
  --extras_->parents->missing;
  return true;
}

Job Job::Copy() const {
  Job c(seq);
  c.created_at = created_at;
  c.ready_at = ready_at;
  c.started_at = started_at;
  c.finished_at = finished_at;
  c.attempt = attempt;
  c.state = state;
  c.payload_size_ = payload_size_;
  c.priority_ = priority_;
  c.queue_ = queue_;
  c.kind_ = kind_;
  if (payload_ != nullptr) {
    size_t n = payload_size_ == kPrefixedPayload
                   ? sizeof(uint32_t) + payload().size()
                   : payload_size_;
    c.payload_.reset(static_cast<char*>(::operator new(n)));
    std::memcpy(c.payload_.get(), payload_.get(), n);
  }
  if (extras_ != nullptr) {
    const Extras& x = *extras_;
    Extras& e = c.MutableExtras();
    e.idempotency_key = x.idempotency_key;
    e.labels = x.labels;
    e.retry = x.retry;
    e.timeout = x.timeout;
    e.has_retry = x.has_retry;
    e.has_timeout = x.has_timeout;
    if (x.parents != nullptr) e.parents = std::make_unique<Parents>(*x.parents);
    e.result = x.result;
    e.error = x.error;
    e.exit_code = x.exit_code;
  }
  return c;
}

std::string_view Job::payload() const {
  if (payload_size_ != kPrefixedPayload) return {payload_.get(), payload_size_};
  uint32_t n;
  std::memcpy(&n, payload_.get(), sizeof n);
  return {payload_.get() + sizeof n, n};
}

Job::Extras& Job::MutableExtras() {
  if (extras_ == nullptr) extras_ = std::make_unique<Extras>();
  return *extras_;
}

const std::string& Job::idempotency_key() const {
  return extras_ != nullptr ? extras_->idempotency_key : Empty();
}

const google::protobuf::Map<std::string, std::string>& Job::labels() const {
  static const auto* empty =
      new google::protobuf::Map<std::string, std::string>;
  return extras_ != nullptr ? extras_->labels : *empty;
}

const v1::RetryPolicy& Job::retry() const {
  return has_retry() ? extras_->retry : v1::RetryPolicy::default_instance();
}

const google::protobuf::Duration& Job::timeout() const {
  return has_timeout() ? extras_->timeout
                       : google::protobuf::Duration::default_instance();
}

void Job::SpecToProto(v1::JobSpec* out) const {
  out->set_queue(queue());
  out->set_kind(kind());
  std::string_view p = payload();
  out->set_payload(p.data(), p.size());
  out->set_priority(priority_);
  if (extras_ == nullptr) return;
  out->set_idempotency_key(extras_->idempotency_key);
  *out->mutable_labels() = extras_->labels;
  if (extras_->has_retry) *out->mutable_retry() = extras_->retry;
  if (extras_->has_timeout) *out->mutable_timeout() = extras_->timeout;
  for (const ParentLink& p : parents())
    *out->add_depends_on() = FormatJobId(p.seq);
}

size_t Job::SpecByteSize() const {
  size_t n = queue().size() + kind().size() + payload().size() + 16;
  if (extras_ != nullptr) {
    n += extras_->idempotency_key.size() + extras_->retry.ByteSizeLong() +
         extras_->timeout.ByteSizeLong();
    for (const auto& [k, v] : extras_->labels) n += k.size() + v.size() + 6;
    n += parents().size() * 18;
  }
  return n;
}

const std::string& Job::result() const {
  return extras_ != nullptr && extras_->result != nullptr ? *extras_->result
                                                          : Empty();
}

const SharedBytes& Job::shared_result() const {
  static const auto* none = new SharedBytes;
  return extras_ != nullptr ? extras_->result : *none;
}

const std::string& Job::error() const {
  return extras_ != nullptr ? extras_->error : Empty();
}

int32_t Job::exit_code() const {
  return extras_ != nullptr ? extras_->exit_code : 0;
}

void Job::SetOutcome(std::string result, std::string error, int32_t exit_code) {
  if (result.empty() && error.empty() && exit_code == 0) {
    ClearOutcome();
    return;
  }
  Extras& e = MutableExtras();
  e.result = result.empty()
                 ? nullptr
                 : std::make_shared<const std::string>(std::move(result));
  e.error = std::move(error);
  e.exit_code = exit_code;
}

void Job::SetError(std::string error) {
  if (error.empty() && result().empty() && exit_code() == 0) {
    ClearOutcome();
    return;
  }
  MutableExtras().error = std::move(error);
}

void Job::ClearOutcome() {
  if (extras_ == nullptr) return;
  extras_->result.reset();
  extras_->error.clear();
  extras_->error.shrink_to_fit();
  extras_->exit_code = 0;
}

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_DEAD ||
         state == v1::JOB_STATE_CANCELLED;
}

std::string FormatJobId(uint64_t seq) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, seq >>= 4) id[i] = kDigits[seq & 0xF];
  return id;
}

bool ParseJobId(std::string_view id, uint64_t* seq) {
  if (id.size() != 16) return false;
  uint64_t v = 0;
  for (char c : id) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *seq = v;
  return true;
}

namespace {

void FillTimings(const Job& job, v1::Timings* out) {
  if (job.started_at > 0 && job.started_at >= job.ready_at) {
    DurationToProto(job.started_at - job.ready_at, out->mutable_queue_wait());
  }
  if (job.finished_at > 0 && job.started_at > 0) {
    DurationToProto(job.finished_at - job.started_at, out->mutable_run_time());
  }
  if (job.finished_at > 0) {
    DurationToProto(job.finished_at - job.created_at, out->mutable_total());
  }
}

}  // namespace

void ToProto(const Job& job, v1::Job* out) {
  out->set_id(FormatJobId(job.seq));
  job.SpecToProto(out->mutable_spec());
  out->set_state(job.state);
  out->set_attempt(job.attempt);
  TimeToProto(job.created_at, out->mutable_created_at());
  TimeToProto(job.ready_at, out->mutable_ready_at());
  if (job.started_at > 0)
    TimeToProto(job.started_at, out->mutable_started_at());
  if (job.finished_at > 0)
    TimeToProto(job.finished_at, out->mutable_finished_at());
  out->set_result(job.result());
  out->set_error(job.error());
  out->set_exit_code(job.exit_code());
  FillTimings(job, out->mutable_timings());
  for (const ParentLink& p : job.parents()) {
    if (!p.succeeded) *out->add_waiting_for() = FormatJobId(p.seq);
  }
}

void ToEvent(const Job& job, v1::JobState state, v1::JobEvent* out) {
  out->set_job_id(FormatJobId(job.seq));
  out->set_queue(job.queue());
  out->set_state(state);
  out->set_attempt(job.attempt);
  TimeUs at = job.created_at;
  switch (state) {
    case v1::JOB_STATE_READY:
      at = std::max(job.ready_at, job.finished_at);
      break;
    case v1::JOB_STATE_RUNNING:
      at = job.started_at;
      break;
    case v1::JOB_STATE_SUCCEEDED:
    case v1::JOB_STATE_FAILED:
    case v1::JOB_STATE_DEAD:
    case v1::JOB_STATE_CANCELLED:
      at = job.finished_at;
      break;
    case v1::JOB_STATE_SCHEDULED:
      at = job.finished_at > 0 ? job.finished_at : job.created_at;
      break;
    default:
      break;
  }
  TimeToProto(at, out->mutable_at());
  if (state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
      state == v1::JOB_STATE_DEAD) {
    out->set_result(job.result());
    out->set_error(job.error());
    out->set_exit_code(job.exit_code());
    FillTimings(job, out->mutable_timings());
  } else if (state == v1::JOB_STATE_CANCELLED) {
    out->set_error(job.error());
  }
}

}  // namespace jobq::core
