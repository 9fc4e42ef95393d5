#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/cluster.h"
#include "client/failover.h"
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
// The channels of MakeChannel(address, tls, token) for any address: the
// TLS files are read once, here.
absl::StatusOr<ChannelFactory> MakeChannelFactory(
    const TlsOptions& tls, const std::string& token = "");
// The nodes at `addresses` (host:port, or several comma-separated), each
// and any leader learned later over such a channel.
absl::StatusOr<std::shared_ptr<Cluster>> MakeCluster(
    const std::string& addresses, const TlsOptions& tls,
    const std::string& token = "");

// The bearer token to send: the first line of `token_file` when given,
// else $JOBQ_TOKEN, else none (empty). INVALID_ARGUMENT naming
// --token-file when it cannot be read or is empty.
absl::StatusOr<std::string> ResolveToken(const std::string& token_file);

struct ClientOptions {
  // Per-call deadline of unary calls; 0 for none.
  int64_t timeout_ms = 30'000;
};

// A blocking C++ client of jobqd, or of a cluster of them: gRPC errors as
// absl::Status (the codes are the same).
//
// Given several addresses, it follows the leader. A call goes to the node
// that last answered as leader (at first, the first address). When it
// fails UNAVAILABLE, a standby's refusal that names the leader (trailing
// metadata `jobq-leader`) sends it to that node, added when it was not in
// the list; any other UNAVAILABLE, to the next address. Each node is tried
// at most once per call, plus once more for a named leader; then the call
// returns the last status (FailoverWalk). Reads are tried again after any
// UNAVAILABLE; a state-changing call (submit, cancel, pause, ...) only when
// it certainly did not reach a leader: a standby refused it, or it was
// never sent (the channel did not connect). Each attempt has the whole
// per-call deadline. Channels are made once per node and kept.
//
// Thread: safe to share between threads, as gRPC stubs are.
class Client {
 public:
  // Connects lazily: the first call dials. `addresses`: host:port, or
  // several comma-separated ("a:7070,b:7070"), over plaintext channels.
  explicit Client(const std::string& addresses, ClientOptions options = {});
  // Over a channel of the caller's. It follows no leader: another address
  // would need the caller's credentials.
  explicit Client(std::shared_ptr<grpc::Channel> channel,
                  ClientOptions options = {});
  // Over the nodes of `cluster` (MakeCluster: with TLS and a token); a
  // Worker may share it.
  explicit Client(std::shared_ptr<Cluster> cluster, ClientOptions options = {});

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
  // false (then OK), or an error. Blocks. Opening it follows the leader; a
  // stream that broke after delivering events returns its error.
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
  // grpc.health.v1: true when the server reports SERVING. With several
  // nodes: when one does (a standby reports NOT_SERVING), which is then
  // the leader; false when none does and one said NOT_SERVING.
  absl::StatusOr<bool> Healthy();
  // Blocks until the server reports SERVING, at most `timeout_ms`: watches
  // grpc.health.v1 with wait-for-ready, so an address not yet listening,
  // or a server still recovering, is waited for rather than an error. OK
  // once SERVING; DEADLINE_EXCEEDED (with the last status seen) otherwise.
  // This, not a log line, is how a script or a test knows jobqd is ready.
  // It also rides out a failed first connection attempt, which Debian's
  // gRPC 1.51 reports spuriously now and then (an in-progress connect(2)
  // taken for a failure with a stale errno, often "No such file or
  // directory"), where a plain call would fail at once. With several
  // nodes, all are watched at once; the first to report SERVING is the
  // leader from then on.
  absl::Status WaitUntilServing(int64_t timeout_ms) {
    return WaitForHealth(true, timeout_ms);
  }
  // The same for either state: `serving` false waits for NOT_SERVING (a
  // jobqd that has become degraded, or is shutting down), watched on the
  // node believed to lead.
  absl::Status WaitForHealth(bool serving, int64_t timeout_ms);

  // The stubs and channel of the node believed to lead, for calls of the
  // caller's own (they are not retried elsewhere).
  v1::JobService::Stub& jobs() { return *leader().jobs; }
  v1::AdminService::Stub& admin() { return *leader().admin; }
  std::shared_ptr<grpc::Channel> channel() const { return leader().channel; }
  // The address of the node believed to lead ("" over a caller's channel).
  std::string address() const { return leader().address; }
  const std::shared_ptr<Cluster>& cluster() const { return cluster_; }
  // Sets the deadline of a unary call as this client's calls have it.
  void Prepare(grpc::ClientContext* ctx) const;

  static absl::Status FromGrpc(const grpc::Status& s);

  // One attempt of a call, on one node, with a fresh context.
  struct Attempt {
    explicit Attempt(const Cluster::Node& n) : node(n) {}
    const Cluster::Node& node;
    grpc::ClientContext ctx;
    // Set by a call that has handed something on (a streamed event): its
    // status is the call's, whatever it is; it is not tried again.
    bool final = false;
  };
  // Runs `rpc` once per attempt, following the leader as the class comment
  // says, and returns the status of the last attempt. The node that
  // answers (any status but UNAVAILABLE) is the leader from then on.
  grpc::Status OnLeader(RetryPolicy policy,
                        const std::function<grpc::Status(Attempt&)>& rpc);
  // A unary call through OnLeader with this client's deadline:
  // `call(node, ctx, response)` makes it on one node.
  template <typename Response, typename Call>
  absl::StatusOr<Response> Unary(RetryPolicy policy, Call call) {
    Response response{};
    grpc::Status s = OnLeader(policy, [&](Attempt& a) {
      Prepare(&a.ctx);
      response = Response{};
      return call(a.node, &a.ctx, &response);
    });
    if (!s.ok()) return FromGrpc(s);
    return response;
  }
  // The same for one generated method of the stub `stub` of each node:
  // Unary(policy, &Cluster::Node::jobs, &v1::JobService::Stub::GetJob, r).
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Unary(
      RetryPolicy policy, std::unique_ptr<Stub> Cluster::Node::*stub,
      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                   Response*),
      const Request& request) {
    return Unary<Response>(policy, [&](const Cluster::Node& n,
                                       grpc::ClientContext* ctx, Response* r) {
      return ((*(n.*stub)).*method)(ctx, request, r);
    });
  }

 private:
  const Cluster::Node& leader() const {
    return cluster_->node(cluster_->leader());
  }

  ClientOptions options_;
  std::shared_ptr<Cluster> cluster_;
};

// Human-readable names: "READY" for JOB_STATE_READY.
std::string StateName(v1::JobState state);
// Parses "ready", "READY" or "JOB_STATE_READY".
bool ParseState(const std::string& text, v1::JobState* out);

}  // namespace jobq::client
