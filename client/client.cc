#include "client/client.h"

#include <grpcpp/support/client_interceptor.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/pem.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace jobq::client {

namespace {

// Each channel dials a connection of its own (gRPC shares one between
// channels of the same target and arguments otherwise): a program that
// opens a second channel for a different load, a lister beside a
// producer, does not queue one's calls behind the other's bytes.
grpc::ChannelArguments ChannelArgs() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return args;
}

// Adds the bearer token to every call's metadata.
class BearerInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerInterceptor(const std::string* header) : header_(header) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
};

class BearerInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerInterceptorFactory(const std::string& token)
      : header_("Bearer " + token) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new BearerInterceptor(&header_);
  }

 private:
  const std::string header_;
};

std::shared_ptr<grpc::Channel> Create(
    const std::string& address,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const grpc::ChannelArguments& args, const std::string& token) {
  if (token.empty())
    return grpc::CreateCustomChannel(address, credentials, args);
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::make_unique<BearerInterceptorFactory>(token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      address, credentials, args, std::move(interceptors));
}

}  // namespace

absl::StatusOr<std::string> ResolveToken(const std::string& token_file) {
  std::string token;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-file: cannot read ", token_file));
    }
    std::getline(in, token);
  } else if (const char* env = std::getenv("JOBQ_TOKEN")) {
    token = env;
  }
  while (!token.empty() &&
         std::isspace(static_cast<unsigned char>(token.back()))) {
    token.pop_back();
  }
  if (!token_file.empty() && token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token-file: ", token_file, " holds no token"));
  }
  return token;
}

TlsOptions TlsOptions::FromEnvironment() {
  TlsOptions o;
  auto env = [](const char* name, std::string* out) {
    if (const char* v = std::getenv(name)) *out = v;
  };
  env("JOBQ_TLS_CA", &o.ca_file);
  env("JOBQ_TLS_CERT", &o.cert_file);
  env("JOBQ_TLS_KEY", &o.key_file);
  env("JOBQ_TLS_SERVER_NAME", &o.server_name);
  return o;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   ChannelArgs());
}

absl::StatusOr<ChannelFactory> MakeChannelFactory(const TlsOptions& tls,
                                                  const std::string& token) {
  if (!tls.enabled()) {
    return ChannelFactory([token](const std::string& address) {
      return Create(address, grpc::InsecureChannelCredentials(), ChannelArgs(),
                    token);
    });
  }
  grpc::SslCredentialsOptions ssl;
  if (!tls.ca_file.empty()) {
    auto ca = ReadPemFile("--tls-ca", tls.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key: give both, or neither");
  }
  if (!tls.cert_file.empty()) {
    auto cert = ReadPemFile("--tls-cert", tls.cert_file);
    if (!cert.ok()) return cert.status();
    auto key = ReadPemFile("--tls-key", tls.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  grpc::ChannelArguments args = ChannelArgs();
  if (!tls.server_name.empty()) {
    args.SetSslTargetNameOverride(tls.server_name);
  }
  return ChannelFactory([credentials = grpc::SslCredentials(ssl), args,
                         token](const std::string& address) {
    return Create(address, credentials, args, token);
  });
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& address, const TlsOptions& tls,
    const std::string& token) {
  auto factory = MakeChannelFactory(tls, token);
  if (!factory.ok()) return factory.status();
  return (*factory)(address);
}

absl::StatusOr<std::shared_ptr<Cluster>> MakeCluster(
    const std::string& addresses, const TlsOptions& tls,
    const std::string& token) {
  auto factory = MakeChannelFactory(tls, token);
  if (!factory.ok()) return factory.status();
  return std::make_shared<Cluster>(addresses, *std::move(factory));
}

Client::Client(const std::string& addresses, ClientOptions options)
    : Client(
          std::make_shared<Cluster>(
              addresses, [](const std::string& a) { return MakeChannel(a); }),
          options) {}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : Client(std::make_shared<Cluster>(std::move(channel)), options) {}

Client::Client(std::shared_ptr<Cluster> cluster, ClientOptions options)
    : options_(options), cluster_(std::move(cluster)) {}

absl::Status Client::FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

void Client::Prepare(grpc::ClientContext* ctx) const {
  if (options_.timeout_ms > 0) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(options_.timeout_ms));
  }
}

namespace {

// The leader a standby named in the call's trailing metadata, if any.
std::optional<std::string> LeaderNamedIn(const grpc::ClientContext& ctx) {
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find(kLeaderMetadataKey);
  if (it == trailers.end() || it->second.empty()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

grpc::Status Client::OnLeader(
    RetryPolicy policy, const std::function<grpc::Status(Attempt&)>& rpc) {
  Cluster& cluster = *cluster_;
  FailoverWalk walk(cluster.size(), cluster.leader(), policy);
  while (true) {
    const size_t index = walk.current();
    Attempt attempt(cluster.node(index));
    grpc::Status s = rpc(attempt);
    std::optional<std::string> named =
        s.ok() ? std::nullopt : LeaderNamedIn(attempt.ctx);
    AttemptFailure failure = ClassifyFailure(FromGrpc(s), named.has_value());
    if (failure == AttemptFailure::kAnswered) {
      cluster.SetLeader(index);
      return s;
    }
    if (attempt.final) return s;
    std::optional<size_t> named_index =
        named ? cluster.FindOrAdd(*named) : std::nullopt;
    std::optional<size_t> next =
        walk.Next(failure, named_index, cluster.size());
    if (!next) return s;
    cluster.DialNow(*next);
  }
}

absl::StatusOr<v1::SubmitResponse> Client::Submit(const v1::JobSpec& spec) {
  v1::SubmitRequest req;
  *req.mutable_job() = spec;
  return Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::jobs,
               &v1::JobService::Stub::Submit, req);
}

absl::StatusOr<v1::SubmitBatchResponse> Client::SubmitBatch(
    const std::vector<v1::JobSpec>& specs) {
  v1::SubmitBatchRequest req;
  for (const auto& s : specs) *req.add_jobs() = s;
  return Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::jobs,
               &v1::JobService::Stub::SubmitBatch, req);
}

absl::StatusOr<v1::Job> Client::GetJob(const std::string& id) {
  v1::GetJobRequest req;
  req.set_job_id(id);
  return Unary(RetryPolicy::kAlways, &Cluster::Node::jobs,
               &v1::JobService::Stub::GetJob, req);
}

absl::StatusOr<v1::Job> Client::CancelJob(const std::string& id) {
  v1::CancelJobRequest req;
  req.set_job_id(id);
  return Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::jobs,
               &v1::JobService::Stub::CancelJob, req);
}

absl::StatusOr<v1::Job> Client::RetryJob(const std::string& id) {
  v1::RetryJobRequest req;
  req.set_job_id(id);
  return Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::jobs,
               &v1::JobService::Stub::RetryJob, req);
}

absl::Status Client::DeleteJob(const std::string& id) {
  v1::DeleteJobRequest req;
  req.set_job_id(id);
  return Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::jobs,
               &v1::JobService::Stub::DeleteJob, req)
      .status();
}

absl::StatusOr<v1::ListJobsResponse> Client::ListJobs(
    const v1::ListJobsRequest& request) {
  return Unary(RetryPolicy::kAlways, &Cluster::Node::jobs,
               &v1::JobService::Stub::ListJobs, request);
}

namespace {

// Hands the stream's events to `on_event`; once one was handed on, the
// attempt is final (trying another node would repeat events).
template <typename Reader>
grpc::Status Drain(Client::Attempt& attempt, Reader& reader,
                   const Client::EventHandler& on_event) {
  v1::WatchResponse msg;
  bool stopped = false;
  while (!stopped && reader->Read(&msg)) {
    for (const auto& e : msg.events()) {
      attempt.final = true;
      if (!on_event(e)) {
        stopped = true;
        break;
      }
    }
  }
  if (stopped) {
    attempt.ctx.TryCancel();
    reader->Finish();
    return grpc::Status::OK;
  }
  return reader->Finish();
}

}  // namespace

absl::Status Client::Watch(const v1::WatchRequest& request,
                           const EventHandler& on_event) {
  return FromGrpc(OnLeader(RetryPolicy::kAlways, [&](Attempt& a) {
    auto reader = a.node.jobs->Watch(&a.ctx, request);
    return Drain(a, reader, on_event);
  }));
}

absl::Status Client::SubmitAndWatch(const v1::JobSpec& spec,
                                    const EventHandler& on_event) {
  v1::SubmitRequest req;
  *req.mutable_job() = spec;
  return FromGrpc(OnLeader(RetryPolicy::kIfNotDelivered, [&](Attempt& a) {
    auto reader = a.node.jobs->SubmitAndWatch(&a.ctx, req);
    return Drain(a, reader, on_event);
  }));
}

absl::StatusOr<v1::GetStatsResponse> Client::GetStats() {
  v1::GetStatsRequest req;
  return Unary(RetryPolicy::kAlways, &Cluster::Node::admin,
               &v1::AdminService::Stub::GetStats, req);
}

absl::StatusOr<v1::ListQueuesResponse> Client::ListQueues() {
  v1::ListQueuesRequest req;
  return Unary(RetryPolicy::kAlways, &Cluster::Node::admin,
               &v1::AdminService::Stub::ListQueues, req);
}

absl::StatusOr<v1::QueueStats> Client::PauseQueue(const std::string& queue) {
  v1::PauseQueueRequest req;
  req.set_queue(queue);
  return Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::admin,
               &v1::AdminService::Stub::PauseQueue, req);
}

absl::StatusOr<v1::QueueStats> Client::ResumeQueue(const std::string& queue) {
  v1::ResumeQueueRequest req;
  req.set_queue(queue);
  return Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::admin,
               &v1::AdminService::Stub::ResumeQueue, req);
}

absl::StatusOr<v1::QueueStats> Client::SetQueueLimits(
    const std::string& queue, int32_t max_concurrency,
    std::optional<int64_t> max_queued) {
  v1::SetQueueLimitsRequest req;
  req.set_queue(queue);
  req.set_max_concurrency(max_concurrency);
  if (max_queued) req.set_max_queued(*max_queued);
  return Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::admin,
               &v1::AdminService::Stub::SetQueueLimits, req);
}

absl::StatusOr<v1::QueueStats> Client::SetQueueLimits(
    const v1::SetQueueLimitsRequest& req) {
  return Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::admin,
               &v1::AdminService::Stub::SetQueueLimits, req);
}

absl::StatusOr<uint64_t> Client::RetryDead(const std::string& queue,
                                           int64_t limit) {
  v1::RetryDeadRequest req;
  req.set_queue(queue);
  req.set_limit(limit);
  auto r = Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::admin,
                 &v1::AdminService::Stub::RetryDead, req);
  if (!r.ok()) return r.status();
  return r->count();
}

absl::StatusOr<uint64_t> Client::PurgeQueue(
    const std::string& queue, const std::vector<v1::JobState>& states) {
  v1::PurgeQueueRequest req;
  req.set_queue(queue);
  for (v1::JobState s : states) req.add_states(s);
  auto r = Unary(RetryPolicy::kIfNotDelivered, &Cluster::Node::admin,
                 &v1::AdminService::Stub::PurgeQueue, req);
  if (!r.ok()) return r.status();
  return r->count();
}

absl::StatusOr<v1::ListWorkersResponse> Client::ListWorkers() {
  v1::ListWorkersRequest req;
  return Unary(RetryPolicy::kAlways, &Cluster::Node::admin,
               &v1::AdminService::Stub::ListWorkers, req);
}

namespace {

using HealthResponse = grpc::health::v1::HealthCheckResponse;

// Watches the health of `channel` until it reports `want` (true), or the
// call ends (false; `*last` then says what was seen last, unless the call
// was cancelled or ran out of time).
bool WatchHealth(const std::shared_ptr<grpc::Channel>& channel,
                 HealthResponse::ServingStatus want, grpc::ClientContext* ctx,
                 std::string* last) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  auto reader = stub->Watch(ctx, grpc::health::v1::HealthCheckRequest());
  HealthResponse resp;
  while (reader->Read(&resp)) {
    if (resp.status() == want) {
      ctx->TryCancel();
      reader->Finish();
      return true;
    }
    *last = HealthResponse::ServingStatus_Name(resp.status());
  }
  grpc::Status s = reader->Finish();
  if (!s.ok() && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
      s.error_code() != grpc::StatusCode::CANCELLED) {
    *last = s.error_message();
  }
  return false;
}

}  // namespace

absl::StatusOr<bool> Client::Healthy() {
  // With several nodes a NOT_SERVING one (a standby) sends the check on,
  // as a refusal would.
  const bool several = cluster_->size() > 1;
  bool not_serving = false;
  auto r = Unary<bool>(
      RetryPolicy::kAlways,
      [&](const Cluster::Node& n, grpc::ClientContext* ctx, bool* healthy) {
        auto stub = grpc::health::v1::Health::NewStub(n.channel);
        HealthResponse resp;
        grpc::Status s =
            stub->Check(ctx, grpc::health::v1::HealthCheckRequest(), &resp);
        *healthy = resp.status() == HealthResponse::SERVING;
        if (s.ok() && !*healthy && several) {
          not_serving = true;
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "NOT_SERVING");
        }
        return s;
      });
  if (!r.ok() && not_serving) return false;
  return r;
}

absl::Status Client::WaitForHealth(bool serving, int64_t timeout_ms) {
  const auto want =
      serving ? HealthResponse::SERVING : HealthResponse::NOT_SERVING;
  // SERVING is waited for on every node at once (the leader is the one
  // that serves); NOT_SERVING on the node believed to lead.
  std::vector<size_t> nodes;
  if (serving) {
    for (size_t i = 0; i < cluster_->size(); ++i) nodes.push_back(i);
  } else {
    nodes.push_back(cluster_->leader());
  }
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  for (size_t i = 0; i < nodes.size(); ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_wait_for_ready(true);
    contexts.back()->set_deadline(deadline);
  }
  std::vector<std::string> last(nodes.size(), "no connection");
  std::mutex mu;
  std::optional<size_t> reached;  // Guarded by mu.
  auto watch = [&](size_t i) {
    if (!WatchHealth(cluster_->node(nodes[i]).channel, want, contexts[i].get(),
                     &last[i])) {
      return;
    }
    std::lock_guard lock(mu);
    if (reached) return;
    reached = i;
    for (size_t j = 0; j < contexts.size(); ++j) {
      if (j != i) contexts[j]->TryCancel();
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < nodes.size(); ++i) threads.emplace_back(watch, i);
  watch(0);
  for (auto& t : threads) t.join();
  if (reached) {
    if (serving) cluster_->SetLeader(nodes[*reached]);
    return absl::OkStatus();
  }
  std::string seen = last[0];
  if (nodes.size() > 1) {
    seen.clear();
    for (size_t i = 0; i < nodes.size(); ++i) {
      absl::StrAppend(&seen, i == 0 ? "" : "; ",
                      cluster_->node(nodes[i]).address, ": ", last[i]);
    }
  }
  return absl::DeadlineExceededError(
      absl::StrCat("not ", HealthResponse::ServingStatus_Name(want), " within ",
                   timeout_ms, " ms (", seen, ")"));
}

std::string StateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  constexpr std::string_view kPrefix = "JOB_STATE_";
  if (name.rfind(kPrefix, 0) == 0) name = name.substr(kPrefix.size());
  return name;
}

bool ParseState(const std::string& text, v1::JobState* out) {
  std::string upper;
  for (char c : text) upper.push_back(static_cast<char>(std::toupper(c)));
  if (upper.rfind("JOB_STATE_", 0) != 0) upper = "JOB_STATE_" + upper;
  return v1::JobState_Parse(upper, out) && *out != v1::JOB_STATE_UNSPECIFIED;
}

}  // namespace jobq::client
