#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/node_hash_set.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::core {

// One copy of each queue and kind name, shared by every job that names it.
// Names are few (queues and kinds), and are kept for the process's life.
// Thread: one owner (the scheduler's).
class NameTable {
 public:
  const std::string* Intern(absl::string_view name);
  size_t size() const { return names_.size(); }

 private:
  absl::node_hash_set<std::string> names_;
};

// A v1::JobState in one byte.
class StateByte {
 public:
  StateByte(v1::JobState s = v1::JOB_STATE_UNSPECIFIED)  // NOLINT: implicit
      : v_(static_cast<uint8_t>(s)) {}
  operator v1::JobState() const {  // NOLINT: implicit
    return static_cast<v1::JobState>(v_);
  }

 private:
  uint8_t v_;
};

// Bytes shared between jobs without a copy: a parent's result, held by the
// parent and each of its dependents. Immutable once made; null when empty.
using SharedBytes = std::shared_ptr<const std::string>;

// A parent of a job (JobSpec.depends_on) and, once it has succeeded, its
// result.
struct ParentLink {
  uint64_t seq = 0;
  bool succeeded = false;
  SharedBytes result;
};

// A job as the core holds it: 80 bytes, and its payload in one allocation
// while it waits. What it was submitted with reads like v1::JobSpec
// (queue(), kind(), payload(), ...): the queue and kind are interned, and
// the fields most jobs leave unset (idempotency key, labels, retry policy,
// timeout), like the outcome of its last run, live apart, only when set.
// Owned by the Scheduler; callers get const references that stay valid
// only until the scheduler's next mutation.
class Job {
 public:
  explicit Job(uint64_t seq = 0) : seq(seq) {}
  Job(Job&&) = default;
  Job& operator=(Job&&) = default;
  // A deep copy: its own payload and extras; parents' results and the
  // interned names are shared (both immutable), so the copy may be read on
  // another thread while the scheduler goes on changing this job.
  Job Copy() const;

  uint64_t seq;
  TimeUs created_at = 0;
  TimeUs ready_at = 0;
  TimeUs started_at = 0;
  TimeUs finished_at = 0;
  uint8_t attempt = 0;  // At most kMaxAttemptsLimit (100).
  StateByte state;

 private:
  // Packed beside attempt and state. A payload shorter than
  // kPrefixedPayload is exactly payload_size_ bytes at payload_ (a 64-byte
  // payload takes a 64-byte allocation); a longer one is prefixed by its
  // 4-byte length.
  static constexpr uint16_t kPrefixedPayload = 0xFFFF;
  uint16_t payload_size_ = 0;
  int32_t priority_ = 0;

 public:
  // The spec: set from a validated v1::JobSpec (queue set).
  void SetSpec(const v1::JobSpec& spec, NameTable& names);
  const std::string& queue() const { return *queue_; }
  const std::string& kind() const { return *kind_; }
  std::string_view payload() const;
  int32_t priority() const { return priority_; }
  const std::string& idempotency_key() const;
  const google::protobuf::Map<std::string, std::string>& labels() const;
  bool has_retry() const { return extras_ != nullptr && extras_->has_retry; }
  const v1::RetryPolicy& retry() const;
  bool has_timeout() const {
    return extras_ != nullptr && extras_->has_timeout;
  }
  const google::protobuf::Duration& timeout() const;
  // Its parents (JobSpec.depends_on) in id order; empty for most jobs.
  const std::vector<ParentLink>& parents() const;
  bool has_parents() const {
    return extras_ != nullptr && extras_->parents != nullptr;
  }
  // Parents that have not succeeded yet.
  uint32_t parents_missing() const {
    return has_parents() ? extras_->parents->missing : 0;
  }
  // `parent` succeeded with `result`: false when it is not a parent of
  // this job, or was marked already.
  bool ParentSucceeded(uint64_t parent, SharedBytes result);
  // The v1 form of the spec (without delay or run_at: the times hold them).
  void SpecToProto(v1::JobSpec* out) const;
  // About the bytes of the serialised v1 spec.
  size_t SpecByteSize() const;

  // How its last run ended; empty until one has.
  const std::string& result() const;
  // The result, shared (null when empty): what its dependents receive.
  const SharedBytes& shared_result() const;
  const std::string& error() const;
  int32_t exit_code() const;
  void SetOutcome(std::string result, std::string error, int32_t exit_code);
  void SetError(std::string error);
  void ClearOutcome();

 private:
  struct Parents {
    std::vector<ParentLink> links;  // By seq.
    uint32_t missing = 0;
  };
  struct Extras {
    std::string idempotency_key;
    google::protobuf::Map<std::string, std::string> labels;
    v1::RetryPolicy retry;
    google::protobuf::Duration timeout;
    bool has_retry = false;
    bool has_timeout = false;
    std::unique_ptr<Parents> parents;
    SharedBytes result;
    std::string error;
    int32_t exit_code = 0;
  };
  struct FreePayload {
    void operator()(char* p) const { ::operator delete(p); }
  };
  Extras& MutableExtras();
  static const std::string& Empty();

  const std::string* queue_ = &Empty();
  const std::string* kind_ = &Empty();
  // Null when empty.
  std::unique_ptr<char, FreePayload> payload_;
  std::unique_ptr<Extras> extras_;
};
static_assert(sizeof(Job) == 80);

// Jobs by id: the id is the job's own, so no key is stored twice.
struct JobOrder {
  using is_transparent = void;
  static uint64_t Seq(const Job& j) { return j.seq; }
  static uint64_t Seq(uint64_t s) { return s; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return Seq(a) < Seq(b);
  }
};

bool IsTerminal(v1::JobState state);

// Ids are the job's sequence number as 16 lowercase hex digits, so that they
// sort in submission order as strings too.
std::string FormatJobId(uint64_t seq);
// False when `id` is not 16 hex digits.
bool ParseJobId(std::string_view id, uint64_t* seq);

// The API view of a job, and of one of its state changes.
void ToProto(const Job& job, v1::Job* out);
void ToEvent(const Job& job, v1::JobState state, v1::JobEvent* out);

}  // namespace jobq::core
