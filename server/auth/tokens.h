#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sha256.h"

namespace jobq::auth {

// What a token may do. A call needs the role of its service (and, for the
// calls about one queue, a queue pattern that matches).
enum Role : uint8_t {
  kSubmit = 1 << 0,  // Submit*, CancelJob
  kRead = 1 << 1,    // GetJob, ListJobs, Watch
  kAdmin = 1 << 2,   // AdminService
  kWorker = 1 << 3,  // WorkerService
};

const char* RoleName(Role role);

using Digest = std::array<unsigned char, 32>;  // jobq::Sha256()

// One entry of the tokens file. jobqd keeps only the hash of the token.
struct Token {
  std::string name;
  Digest sha256{};
  uint8_t roles = 0;
  // Glob patterns ("emails", "reports.*") of the queues the token may use;
  // empty: every queue.
  std::vector<std::string> queues;
  // Jobs per second this token may submit, and the burst above that rate;
  // 0: the server's --submit-rate and --submit-burst.
  double submit_rate = 0;
  double submit_burst = 0;

  bool Has(Role role) const { return (roles & role) != 0; }
  bool AllQueues() const { return queues.empty(); }
  bool MayUseQueue(absl::string_view queue) const;
  // "emails, reports.*", for error messages.
  std::string QueueList() const;
};

// The tokens file (--auth-tokens), parsed:
//
//   tokens:
//     - name: billing-producer
//       sha256: 9f86d08...   # sha256 of the token, 64 hex digits
//       roles: [submit, read]
//       queues: ["billing", "billing.*"]
//       submit_rate: 500     # optional, jobs/s
//       submit_burst: 1000   # optional
//
// Thread: immutable once parsed; shared between gRPC threads.
class TokenTable {
 public:
  // INVALID_ARGUMENT naming the entry and key for anything wrong.
  static absl::StatusOr<std::shared_ptr<const TokenTable>> Parse(
      const std::string& yaml);
  static absl::StatusOr<std::shared_ptr<const TokenTable>> Load(
      const std::string& path);

  // The entry whose hash is the hash of `presented`, or null. Every
  // entry's hash is compared, each in constant time, so the time taken
  // says nothing about which entry came close.
  const Token* Find(absl::string_view presented) const;

  const std::vector<Token>& tokens() const { return tokens_; }

 private:
  std::vector<Token> tokens_;
};

}  // namespace jobq::auth
