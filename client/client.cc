#include "client/client.h"

#include <grpcpp/support/client_interceptor.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/pem.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace jobq::client {

namespace {

grpc::ChannelArguments ChannelArgs() {
  grpc::ChannelArguments args;
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

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& address, const TlsOptions& tls,
    const std::string& token) {
  if (!tls.enabled()) {
    return Create(address, grpc::InsecureChannelCredentials(), ChannelArgs(),
                  token);
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
  return Create(address, grpc::SslCredentials(ssl), args, token);
}

Client::Client(const std::string& address, ClientOptions options)
    : Client(MakeChannel(address), options) {}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(options) {
  channel_ = std::move(channel);
  jobs_ = v1::JobService::NewStub(channel_);
  admin_ = v1::AdminService::NewStub(channel_);
}

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

template <typename Response, typename Call>
absl::StatusOr<Response> Client::Unary(Call call) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  Response response;
  grpc::Status s = call(&ctx, &response);
  if (!s.ok()) return FromGrpc(s);
  return response;
}

absl::StatusOr<v1::SubmitResponse> Client::Submit(const v1::JobSpec& spec) {
  v1::SubmitRequest req;
  *req.mutable_job() = spec;
  return Unary<v1::SubmitResponse>(
      [&](auto* ctx, auto* resp) { return jobs_->Submit(ctx, req, resp); });
}

absl::StatusOr<v1::SubmitBatchResponse> Client::SubmitBatch(
    const std::vector<v1::JobSpec>& specs) {
  v1::SubmitBatchRequest req;
  for (const auto& s : specs) *req.add_jobs() = s;
  return Unary<v1::SubmitBatchResponse>([&](auto* ctx, auto* resp) {
    return jobs_->SubmitBatch(ctx, req, resp);
  });
}

absl::StatusOr<v1::Job> Client::GetJob(const std::string& id) {
  v1::GetJobRequest req;
  req.set_job_id(id);
  return Unary<v1::Job>(
      [&](auto* ctx, auto* resp) { return jobs_->GetJob(ctx, req, resp); });
}

absl::StatusOr<v1::Job> Client::CancelJob(const std::string& id) {
  v1::CancelJobRequest req;
  req.set_job_id(id);
  return Unary<v1::Job>(
      [&](auto* ctx, auto* resp) { return jobs_->CancelJob(ctx, req, resp); });
}

absl::StatusOr<v1::Job> Client::RetryJob(const std::string& id) {
  v1::RetryJobRequest req;
  req.set_job_id(id);
  return Unary<v1::Job>(
      [&](auto* ctx, auto* resp) { return jobs_->RetryJob(ctx, req, resp); });
}

absl::Status Client::DeleteJob(const std::string& id) {
  v1::DeleteJobRequest req;
  req.set_job_id(id);
  return Unary<v1::DeleteJobResponse>([&](auto* ctx, auto* resp) {
           return jobs_->DeleteJob(ctx, req, resp);
         })
      .status();
}

absl::StatusOr<v1::ListJobsResponse> Client::ListJobs(
    const v1::ListJobsRequest& request) {
  return Unary<v1::ListJobsResponse>([&](auto* ctx, auto* resp) {
    return jobs_->ListJobs(ctx, request, resp);
  });
}

namespace {

template <typename Reader>
absl::Status Drain(grpc::ClientContext& ctx, Reader& reader,
                   const Client::EventHandler& on_event) {
  v1::WatchResponse msg;
  bool stopped = false;
  while (!stopped && reader->Read(&msg)) {
    for (const auto& e : msg.events()) {
      if (!on_event(e)) {
        stopped = true;
        break;
      }
    }
  }
  if (stopped) {
    ctx.TryCancel();
    reader->Finish();
    return absl::OkStatus();
  }
  return Client::FromGrpc(reader->Finish());
}

}  // namespace

absl::Status Client::Watch(const v1::WatchRequest& request,
                           const EventHandler& on_event) {
  grpc::ClientContext ctx;
  auto reader = jobs_->Watch(&ctx, request);
  return Drain(ctx, reader, on_event);
}

absl::Status Client::SubmitAndWatch(const v1::JobSpec& spec,
                                    const EventHandler& on_event) {
  grpc::ClientContext ctx;
  v1::SubmitRequest req;
  *req.mutable_job() = spec;
  auto reader = jobs_->SubmitAndWatch(&ctx, req);
  return Drain(ctx, reader, on_event);
}

absl::StatusOr<v1::GetStatsResponse> Client::GetStats() {
  v1::GetStatsRequest req;
  return Unary<v1::GetStatsResponse>(
      [&](auto* ctx, auto* resp) { return admin_->GetStats(ctx, req, resp); });
}

absl::StatusOr<v1::ListQueuesResponse> Client::ListQueues() {
  v1::ListQueuesRequest req;
  return Unary<v1::ListQueuesResponse>([&](auto* ctx, auto* resp) {
    return admin_->ListQueues(ctx, req, resp);
  });
}

absl::StatusOr<v1::QueueStats> Client::PauseQueue(const std::string& queue) {
  v1::PauseQueueRequest req;
  req.set_queue(queue);
  return Unary<v1::QueueStats>([&](auto* ctx, auto* resp) {
    return admin_->PauseQueue(ctx, req, resp);
  });
}

absl::StatusOr<v1::QueueStats> Client::ResumeQueue(const std::string& queue) {
  v1::ResumeQueueRequest req;
  req.set_queue(queue);
  return Unary<v1::QueueStats>([&](auto* ctx, auto* resp) {
    return admin_->ResumeQueue(ctx, req, resp);
  });
}

absl::StatusOr<v1::QueueStats> Client::SetQueueLimits(
    const std::string& queue, int32_t max_concurrency,
    std::optional<int64_t> max_queued) {
  v1::SetQueueLimitsRequest req;
  req.set_queue(queue);
  req.set_max_concurrency(max_concurrency);
  if (max_queued) req.set_max_queued(*max_queued);
  return Unary<v1::QueueStats>([&](auto* ctx, auto* resp) {
    return admin_->SetQueueLimits(ctx, req, resp);
  });
}

absl::StatusOr<v1::QueueStats> Client::SetQueueLimits(
    const v1::SetQueueLimitsRequest& req) {
  return Unary<v1::QueueStats>([&](auto* ctx, auto* resp) {
    return admin_->SetQueueLimits(ctx, req, resp);
  });
}

absl::StatusOr<uint64_t> Client::RetryDead(const std::string& queue,
                                           int64_t limit) {
  v1::RetryDeadRequest req;
  req.set_queue(queue);
  req.set_limit(limit);
  auto r = Unary<v1::RetryDeadResponse>(
      [&](auto* ctx, auto* resp) { return admin_->RetryDead(ctx, req, resp); });
  if (!r.ok()) return r.status();
  return r->count();
}

absl::StatusOr<uint64_t> Client::PurgeQueue(
    const std::string& queue, const std::vector<v1::JobState>& states) {
  v1::PurgeQueueRequest req;
  req.set_queue(queue);
  for (v1::JobState s : states) req.add_states(s);
  auto r = Unary<v1::PurgeQueueResponse>([&](auto* ctx, auto* resp) {
    return admin_->PurgeQueue(ctx, req, resp);
  });
  if (!r.ok()) return r.status();
  return r->count();
}

absl::StatusOr<v1::ListWorkersResponse> Client::ListWorkers() {
  v1::ListWorkersRequest req;
  return Unary<v1::ListWorkersResponse>([&](auto* ctx, auto* resp) {
    return admin_->ListWorkers(ctx, req, resp);
  });
}

absl::StatusOr<bool> Client::Healthy() {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest req;
  return Unary<bool>([&](auto* ctx, bool* healthy) {
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = stub->Check(ctx, req, &resp);
    *healthy = resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    return s;
  });
}

absl::Status Client::WaitForHealth(bool serving, int64_t timeout_ms) {
  const auto want = serving
                        ? grpc::health::v1::HealthCheckResponse::SERVING
                        : grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest req;
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(timeout_ms));
  auto reader = stub->Watch(&ctx, req);
  grpc::health::v1::HealthCheckResponse resp;
  std::string last = "no connection";
  while (reader->Read(&resp)) {
    if (resp.status() == want) {
      ctx.TryCancel();
      reader->Finish();
      return absl::OkStatus();
    }
    last = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
        resp.status());
  }
  grpc::Status s = reader->Finish();
  if (!s.ok() && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
    last = s.error_message();
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "not ", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(want),
      " within ", timeout_ms, " ms (", last, ")"));
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
