#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "jobq/v1/jobq.grpc.pb.h"

namespace jobq::client {

// How to reach a jobqd that serves TLS. All empty: plain TCP.
struct TlsOptions {
  std::string ca_file;    // PEM CA that signed jobqd's certificate.
  std::string cert_file;  // For mutual TLS: this client's certificate ...
  std::string key_file;   // ... and key.
  // The name to check jobqd's certificate against, when it is not the
  // host part of the address.
  std::string server_name;
  bool enabled() const { return !ca_file.empty() || !cert_file.empty(); }
  // From JOBQ_TLS_CA, JOBQ_TLS_CERT, JOBQ_TLS_KEY and
  // JOBQ_TLS_SERVER_NAME, where set.
  static TlsOptions FromEnvironment();
};

// A channel to jobqd at `address` (host:port), with message limits that
// fit jobqd's.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);
// The same over TLS when `tls` asks for it, and with `token` (when not
// empty) sent as "authorization: Bearer <token>" on every call;
// INVALID_ARGUMENT naming the file that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& address, const TlsOptions& tls,
    const std::string& token = "");

// The bearer token to send: the first line of `token_file` when given,
// else $JOBQ_TOKEN, else none (empty). INVALID_ARGUMENT naming
// --token-file when it cannot be read or is empty.
absl::StatusOr<std::string> ResolveToken(const std::string& token_file);

struct ClientOptions {
  // Per-call deadline of unary calls; 0 for none.
  int64_t timeout_ms = 30'000;
};

// A blocking C++ client of jobqd: one channel, the JobService and
// AdminService stubs, gRPC errors as absl::Status (the codes are the same).
// Thread: safe to share between threads, as gRPC stubs are.
class Client {
 public:
  // Connects lazily: the first call dials `address` (host:port).
  explicit Client(const std::string& address, ClientOptions options = {});
  // Over a channel of the caller's (such as one with TLS).
  explicit Client(std::shared_ptr<grpc::Channel> channel,
                  ClientOptions options = {});

  absl::StatusOr<v1::SubmitResponse> Submit(const v1::JobSpec& spec);
  absl::StatusOr<v1::SubmitBatchResponse> SubmitBatch(
      const std::vector<v1::JobSpec>& specs);
  absl::StatusOr<v1::Job> GetJob(const std::string& id);
  absl::StatusOr<v1::Job> CancelJob(const std::string& id);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(
      const v1::ListJobsRequest& request);
  // A DEAD or CANCELLED job runs again; a finished job is forgotten.
  absl::StatusOr<v1::Job> RetryJob(const std::string& id);
  absl::Status DeleteJob(const std::string& id);

  // Receives the events of a stream; return false to stop watching.
  using EventHandler = std::function<bool(const v1::JobEvent&)>;
  // Streams events until the server ends the stream, `on_event` returns
  // false (then OK), or an error. Blocks.
  absl::Status Watch(const v1::WatchRequest& request,
                     const EventHandler& on_event);
  // Submits and streams the job's events until it ends. Blocks.
  absl::Status SubmitAndWatch(const v1::JobSpec& spec,
                              const EventHandler& on_event);

  absl::StatusOr<v1::GetStatsResponse> GetStats();
  absl::StatusOr<v1::ListQueuesResponse> ListQueues();
  absl::StatusOr<v1::QueueStats> PauseQueue(const std::string& queue);
  absl::StatusOr<v1::QueueStats> ResumeQueue(const std::string& queue);
  // `max_queued`, when given, sets the queue's cap on unfinished jobs.
  absl::StatusOr<v1::QueueStats> SetQueueLimits(
      const std::string& queue, int32_t max_concurrency,
      std::optional<int64_t> max_queued = std::nullopt);
  // Sets what the request sets; the queue's other limits stay.
  absl::StatusOr<v1::QueueStats> SetQueueLimits(
      const v1::SetQueueLimitsRequest& request);
  // How many DEAD jobs of `queue` run again (limit 0: all).
  absl::StatusOr<uint64_t> RetryDead(const std::string& queue,
                                     int64_t limit = 0);
  // How many jobs of `queue` in `states` were removed.
  absl::StatusOr<uint64_t> PurgeQueue(const std::string& queue,
                                      const std::vector<v1::JobState>& states);
  absl::StatusOr<v1::ListWorkersResponse> ListWorkers();
  // grpc.health.v1: true when the server reports SERVING.
  absl::StatusOr<bool> Healthy();
  // Blocks until the server reports SERVING, at most `timeout_ms`: watches
  // grpc.health.v1 with wait-for-ready, so an address not yet listening,
  // or a server still recovering, is waited for rather than an error. OK
  // once SERVING; DEADLINE_EXCEEDED (with the last status seen) otherwise.
  // This, not a log line, is how a script or a test knows jobqd is ready.
  // It also rides out a failed first connection attempt, which Debian's
  // gRPC 1.51 reports spuriously now and then (an in-progress connect(2)
  // taken for a failure with a stale errno, often "No such file or
  // directory"), where a plain call would fail at once.
  absl::Status WaitUntilServing(int64_t timeout_ms) {
    return WaitForHealth(true, timeout_ms);
  }
  // The same for either state: `serving` false waits for NOT_SERVING (a
  // jobqd that has become degraded, or is shutting down).
  absl::Status WaitForHealth(bool serving, int64_t timeout_ms);

  v1::JobService::Stub& jobs() { return *jobs_; }
  v1::AdminService::Stub& admin() { return *admin_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // Sets the deadline of a unary call as this client's calls have it.
  void Prepare(grpc::ClientContext* ctx) const;

  static absl::Status FromGrpc(const grpc::Status& s);

 private:
  template <typename Response, typename Call>
  absl::StatusOr<Response> Unary(Call call);

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

// Human-readable names: "READY" for JOB_STATE_READY.
std::string StateName(v1::JobState state);
// Parses "ready", "READY" or "JOB_STATE_READY".
bool ParseState(const std::string& text, v1::JobState* out);

}  // namespace jobq::client
