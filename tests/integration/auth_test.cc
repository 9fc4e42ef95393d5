// Bearer tokens with roles and queue patterns: every role against every
// service, through the C++ client, jobqctl and a worker stream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <regex>

#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

using ::testing::HasSubstr;
using Code = absl::StatusCode;

// The tokens file of these tests: the token of each entry is its name with
// "-secret" after it.
std::string TokensYaml(const std::vector<std::string>& entries) {
  std::string yaml = "tokens:\n";
  for (const std::string& e : entries) yaml += e;
  return yaml;
}

std::string Entry(const std::string& name, const std::string& roles,
                  const std::string& extra = "") {
  CommandRun hash = RunCommand("printf %s " + name + "-secret | sha256sum");
  return "  - name: " + name + "\n    sha256: " + hash.out.substr(0, 64) +
         "\n    roles: [" + roles + "]\n" + extra;
}

const std::vector<std::string> kEntries = {
    Entry("producer", "submit", "    queues: [billing, \"billing.*\"]\n"),
    Entry("reader", "read"),
    Entry("billing-reader", "read", "    queues: [billing]\n"),
    Entry("admin", "admin"),
    Entry("worker", "worker", "    queues: [billing]\n"),
    Entry("ops", "submit, read, admin, worker"),
    Entry("slow", "submit", "    submit_rate: 0.001\n    submit_burst: 3\n"),
};

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokens_path_ = TempPath("tokens.yaml");
    std::ofstream(tokens_path_) << TokensYaml(kEntries);
    jobqd_ = JobqdProcess::Start({"--auth-tokens", tokens_path_});
    ASSERT_NE(jobqd_, nullptr);
  }
  // A client that sends `token` ("" for none).
  std::unique_ptr<client::Client> As(const std::string& token) {
    auto channel = client::MakeChannel(jobqd_->address(), {}, token);
    EXPECT_TRUE(channel.ok());
    return std::make_unique<client::Client>(*channel);
  }
  std::unique_ptr<client::Client> AsToken(const std::string& name) {
    return As(name + "-secret");
  }
  // Opens a worker stream with `token` and a hello for `queues`; the status
  // it is refused with, or OK once welcomed.
  absl::Status Work(const std::string& token,
                    const std::vector<std::string>& queues) {
    auto stub = v1::WorkerService::NewStub(
        *client::MakeChannel(jobqd_->address(), {}, token));
    grpc::ClientContext ctx;
    auto stream = stub->Work(&ctx);
    v1::WorkerMessage hello;
    hello.mutable_hello()->add_kinds("remote.kind");
    for (const auto& q : queues) hello.mutable_hello()->add_queues(q);
    stream->Write(hello);
    v1::WorkAssignment welcome;
    bool welcomed = stream->Read(&welcome) && welcome.has_welcome();
    stream->WritesDone();
    grpc::Status s = stream->Finish();
    if (welcomed) return absl::OkStatus();
    return absl::Status(static_cast<Code>(s.error_code()), s.error_message());
  }
  // A job of queue `queue` submitted by the all-powerful token, delayed so
  // that it stays cancellable.
  std::string Job(const std::string& queue) {
    v1::JobSpec spec = MakeSpec("noop", queue);
    spec.mutable_delay()->set_seconds(3600);
    auto r = AsToken("ops")->Submit(spec);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job_id() : "";
  }

  std::string tokens_path_;
  std::unique_ptr<JobqdProcess> jobqd_;
};

// Every call, as every token: the code it gets.
TEST_F(AuthTest, EveryRoleAgainstEveryService) {
  std::string billing_job = Job("billing");
  std::string other_job = Job("payroll");
  using Call = std::function<absl::Status(client::Client&)>;
  auto watch_one = [](const std::string& id) {
    return [id](client::Client& c) {
      v1::WatchRequest w;
      w.add_job_ids(id);
      // The delayed job is SCHEDULED: the first event proves the watch.
      return c.Watch(w, [](const v1::JobEvent&) { return false; });
    };
  };
  const std::map<std::string, Call> calls = {
      {"submit billing",
       [](client::Client& c) {
         return c.Submit(MakeSpec("noop", "billing.eu")).status();
       }},
      {"submit payroll",
       [](client::Client& c) {
         return c.Submit(MakeSpec("noop", "payroll")).status();
       }},
      {"get billing job",
       [&](client::Client& c) { return c.GetJob(billing_job).status(); }},
      {"get payroll job",
       [&](client::Client& c) { return c.GetJob(other_job).status(); }},
      {"list all", [](client::Client& c) { return c.ListJobs({}).status(); }},
      {"list billing",
       [](client::Client& c) {
         v1::ListJobsRequest r;
         r.set_queue("billing");
         return c.ListJobs(r).status();
       }},
      {"watch billing job", watch_one(billing_job)},
      {"cancel billing job",
       [&](client::Client& c) { return c.CancelJob(Job("billing")).status(); }},
      {"stats", [](client::Client& c) { return c.GetStats().status(); }},
      {"pause billing",
       [](client::Client& c) { return c.ResumeQueue("billing").status(); }},
      {"health", [](client::Client& c) { return c.Healthy().status(); }},
  };
  const Code OK = Code::kOk, PD = Code::kPermissionDenied,
             UA = Code::kUnauthenticated;
  // Columns in the order of `calls` (sorted by name).
  const std::vector<std::string> order = {
      "cancel billing job", "get billing job", "get payroll job",  "health",
      "list all",           "list billing",    "pause billing",    "stats",
      "submit billing",     "submit payroll",  "watch billing job"};
  const std::map<std::string, std::vector<Code>> expected = {
      {"producer", {OK, PD, PD, OK, PD, PD, PD, PD, OK, PD, PD}},
      {"reader", {PD, OK, OK, OK, OK, OK, PD, PD, PD, PD, OK}},
      {"billing-reader", {PD, OK, PD, OK, PD, OK, PD, PD, PD, PD, OK}},
      {"admin", {OK, PD, PD, OK, PD, PD, OK, OK, PD, PD, PD}},
      {"worker", {PD, PD, PD, OK, PD, PD, PD, PD, PD, PD, PD}},
      {"ops", {OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK}},
      {"<none>", {UA, UA, UA, OK, UA, UA, UA, UA, UA, UA, UA}},
      {"<unknown>", {UA, UA, UA, OK, UA, UA, UA, UA, UA, UA, UA}},
  };
  for (const auto& [who, codes] : expected) {
    std::unique_ptr<client::Client> c = who == "<none>"      ? As("")
                                        : who == "<unknown>" ? As("not-a-token")
                                                             : AsToken(who);
    for (size_t i = 0; i < order.size(); ++i) {
      absl::Status s = calls.at(order[i])(*c);
      EXPECT_EQ(s.code(), codes[i])
          << who << " / " << order[i] << ": " << s.ToString();
    }
  }
  // Workers: the role, and the queues of the hello against the patterns.
  EXPECT_TRUE(Work("worker-secret", {"billing"}).ok());
  EXPECT_TRUE(Work("ops-secret", {}).ok());
  absl::Status all = Work("worker-secret", {});
  EXPECT_EQ(all.code(), PD);
  EXPECT_THAT(std::string(all.message()),
              HasSubstr("hello.queues: token \"worker\" may use only some "
                        "queues (billing); name one"));
  EXPECT_EQ(Work("worker-secret", {"billing", "payroll"}).code(), PD);
  EXPECT_EQ(Work("producer-secret", {"billing"}).code(), PD);
  EXPECT_EQ(Work("", {"billing"}).code(), UA);
  EXPECT_EQ(Work("nope", {"billing"}).code(), UA);
}

TEST_F(AuthTest, RefusalsSayWhatIsWrongAndNeverEchoTheToken) {
  absl::Status none = As("")->Submit(MakeSpec("noop")).status();
  EXPECT_EQ(none.message(),
            "authorization: missing; send the header \"authorization: Bearer "
            "<token>\"");
  absl::Status unknown =
      As("wrong-secret-123")->Submit(MakeSpec("noop")).status();
  EXPECT_EQ(unknown.message(), "authorization: unknown token");
  absl::Status role = AsToken("reader")->Submit(MakeSpec("noop")).status();
  EXPECT_EQ(role.message(), "token \"reader\" does not have the submit role");
  absl::Status queue =
      AsToken("producer")->Submit(MakeSpec("noop", "payroll")).status();
  EXPECT_EQ(queue.message(),
            "job.queue: token \"producer\" may not use queue \"payroll\" "
            "(its queues: billing, billing.*)");
  // A batch refuses job by job.
  auto batch = AsToken("producer")
                   ->SubmitBatch({MakeSpec("noop", "billing"),
                                  MakeSpec("noop", "payroll")});
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->results(0).code(), 0);
  EXPECT_EQ(batch->results(1).code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(batch->results(1).message(), HasSubstr("jobs[1].queue:"));
  // A header that is not "Bearer <token>".
  auto stub = v1::JobService::NewStub(client::MakeChannel(jobqd_->address()));
  for (const char* header :
       {"Basic b3BzOnNlY3JldA==", "Bearer ", "ops-secret"}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", header);
    v1::SubmitRequest req;
    *req.mutable_job() = MakeSpec("noop");
    v1::SubmitResponse resp;
    grpc::Status s = stub->Submit(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << header;
    EXPECT_EQ(s.error_message(),
              "authorization: not of the form \"Bearer <token>\"");
  }
  // No token reaches the log.
  std::string log = jobqd_->Log();
  for (const char* secret :
       {"wrong-secret-123", "ops-secret", "reader-secret"}) {
    EXPECT_THAT(log, ::testing::Not(HasSubstr(secret)));
  }
  // The refusals are counted.
  auto ops = AsToken("ops");
  auto stats = ops->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_TRUE(stats->auth_required());
}

TEST_F(AuthTest, SubmitStreamChecksEveryRequest) {
  auto stub = v1::JobService::NewStub(
      *client::MakeChannel(jobqd_->address(), {}, "producer-secret"));
  grpc::ClientContext ctx;
  auto stream = stub->SubmitStream(&ctx);
  const std::vector<std::string> queues = {"billing", "payroll", "billing.x"};
  for (size_t i = 0; i < queues.size(); ++i) {
    v1::SubmitRequest req;
    *req.mutable_job() = MakeSpec("noop", queues[i]);
    req.set_client_ref(i);
    ASSERT_TRUE(stream->Write(req));
  }
  stream->WritesDone();
  std::map<uint64_t, int> codes;
  v1::SubmitStreamResponse resp;
  while (stream->Read(&resp)) {
    for (const auto& ack : resp.acks()) {
      codes[ack.client_ref()] = ack.result().code();
    }
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(codes[0], 0);
  EXPECT_EQ(codes[1], grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(codes[2], 0);
  // Without a token the stream itself is refused.
  auto anonymous =
      v1::JobService::NewStub(client::MakeChannel(jobqd_->address()));
  grpc::ClientContext ctx2;
  auto refused = anonymous->SubmitStream(&ctx2);
  while (refused->Read(&resp)) {
  }
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AuthTest, SubmitRatePerTokenRefusesTheExcessAndKeepsTheRest) {
  auto slow = AsToken("slow");
  std::vector<v1::JobSpec> specs(5, MakeSpec("noop", "rated"));
  ASSERT_TRUE(slow->PauseQueue("rated").status().code() ==
              Code::kPermissionDenied);
  ASSERT_TRUE(AsToken("ops")->PauseQueue("rated").ok());
  // A request refused for what it says takes nothing from the rate.
  {
    auto stub = v1::JobService::NewStub(
        *client::MakeChannel(jobqd_->address(), {}, "slow-secret"));
    grpc::ClientContext ctx;
    v1::SubmitRequest req;
    *req.mutable_job() = MakeSpec("noop", "rated");
    req.add_watch_states(static_cast<v1::JobState>(99));
    auto stream = stub->SubmitAndWatch(&ctx, req);
    v1::WatchResponse m;
    while (stream->Read(&m)) {
    }
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("watch_states"));
  }
  auto batch = slow->SubmitBatch(specs);
  ASSERT_TRUE(batch.ok());
  std::vector<std::string> accepted;
  for (int i = 0; i < 5; ++i) {
    if (i < 3) {
      EXPECT_EQ(batch->results(i).code(), 0) << i;
      accepted.push_back(batch->results(i).job_id());
    } else {
      EXPECT_EQ(batch->results(i).code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_THAT(batch->results(i).message(),
                  HasSubstr("\"slow\" may submit 0.001 jobs/s (burst 3)"));
    }
  }
  EXPECT_EQ(slow->Submit(MakeSpec("noop", "rated")).status().code(),
            Code::kResourceExhausted);
  // Another token is served; the accepted jobs are all there.
  auto ops = AsToken("ops");
  EXPECT_TRUE(ops->Submit(MakeSpec("noop", "rated")).ok());
  for (const std::string& id : accepted) {
    auto job = ops->GetJob(id);
    ASSERT_TRUE(job.ok()) << id;
    EXPECT_EQ(job->state(), v1::JOB_STATE_READY);
  }
  httplib::Client http("127.0.0.1", jobqd_->http_port());
  auto metrics = http.Get("/metrics", {{"authorization", "Bearer ops-secret"}});
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body,
              HasSubstr("jobq_limit_refusals_total{limit=\"submit_rate\"} 3"));
  EXPECT_THAT(
      metrics->body,
      ::testing::ContainsRegex("jobq_auth_failures_total\\{reason=\"permission_"
                               "denied\"\\} [1-9]"));
}

// Rotation: a new token made by jobqctl works after SIGHUP; a removed one
// stops working; a broken file keeps the tokens in use.
TEST_F(AuthTest, JobqctlMakesTokensAndSighupReloadsThem) {
  CommandRun made =
      jobqd_->Ctl("token new deploy --role submit --role read -q 'deploy.*'");
  ASSERT_EQ(made.exit_code, 0) << made.out;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(made.out, m, std::regex("(jq_[A-Za-z0-9_-]{43})\n")))
      << made.out;
  std::string token = m[1];
  std::string entry = made.out.substr(made.out.find("  - name: deploy"));
  EXPECT_THAT(entry, HasSubstr("roles: [submit, read]"));
  EXPECT_THAT(entry, HasSubstr("queues: [\"deploy.*\"]"));

  std::string token_file = TempPath("deploy.token");
  std::ofstream(token_file) << token << "\n";
  CommandRun before = jobqd_->Ctl("--token-file " + token_file +
                                  " submit -k noop -q deploy.eu");
  EXPECT_EQ(before.exit_code, 1);
  EXPECT_THAT(before.out, HasSubstr("UNAUTHENTICATED"));

  // Add the new entry, drop "reader", and reload.
  std::vector<std::string> entries;
  for (const auto& e : kEntries) {
    if (e.find("name: reader\n") == std::string::npos) entries.push_back(e);
  }
  entries.push_back(entry);
  std::ofstream(tokens_path_) << TokensYaml(entries);
  kill(jobqd_->pid(), SIGHUP);
  ASSERT_TRUE(jobqd_->WaitForLog(std::regex("reloaded 7 tokens")));
  CommandRun after = jobqd_->Ctl("--token-file " + token_file +
                                 " submit -k noop -q deploy.eu");
  EXPECT_EQ(after.exit_code, 0) << after.out;
  CommandRun env =
      RunCommand("JOBQ_TOKEN=" + token + " " + JOBQCTL_PATH + " --addr " +
                 jobqd_->address() + " list -q deploy.eu");
  EXPECT_EQ(env.exit_code, 0) << env.out;
  EXPECT_EQ(AsToken("reader")->ListJobs({}).status().code(),
            Code::kUnauthenticated);

  // A broken file: the tokens in use stay.
  std::ofstream(tokens_path_) << "tokens: [";
  kill(jobqd_->pid(), SIGHUP);
  ASSERT_TRUE(
      jobqd_->WaitForLog(std::regex("SIGHUP: .*the tokens in use stay")));
  EXPECT_EQ(jobqd_->Ctl("--token-file " + token_file + " list -q deploy.eu")
                .exit_code,
            0);
  CommandRun missing = jobqd_->Ctl("--token-file /nonexistent/token stats");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.out, HasSubstr("--token-file: cannot read"));
}

TEST(AuthStartTest, ABadTokensFileStopsTheStart) {
  std::string path = TempPath("tokens.yaml");
  std::ofstream(path) << "tokens:\n  - name: a\n    roles: [read]\n";
  std::string out =
      JobqdProcess::StartExpectingFailure({"--auth-tokens", path});
  EXPECT_THAT(out, HasSubstr("tokens[0].sha256: required"));
  out = JobqdProcess::StartExpectingFailure(
      {"--auth-tokens", "/nonexistent/tokens.yaml"});
  EXPECT_THAT(out, HasSubstr("--auth-tokens: cannot read"));
}

// Safe by default: a public address needs TLS and tokens, or --insecure,
// which is then warned of at start, in GetStats and in the metrics.
TEST(AuthStartTest, APublicAddressNeedsTlsAndTokensOrInsecure) {
  std::string tokens = TempPath("tokens.yaml");
  std::ofstream(tokens) << TokensYaml({Entry("ops", "admin")});
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, {"--auth-tokens", tokens}}) {
    std::vector<std::string> argv = {JOBQD_PATH, "--listen", "0.0.0.0:0",
                                     "--http-listen", ""};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto refused = ChildProcess::Start(argv);
    EXPECT_EQ(refused->Stop(0), 1);
    std::string out = refused->Output();
    EXPECT_THAT(out,
                HasSubstr("--listen: 0.0.0.0:0 is not a loopback address"));
    EXPECT_THAT(out, HasSubstr("TLS (--tls-cert, --tls-key)"));
    EXPECT_THAT(out, HasSubstr("give --insecure to serve it anyway"));
    EXPECT_EQ(out.find("tokens (--auth-tokens)") == std::string::npos,
              !extra.empty());
  }
  auto insecure =
      ChildProcess::Start({JOBQD_PATH, "--listen", "0.0.0.0:0", "--http-listen",
                           "127.0.0.1:0", "--insecure"});
  std::smatch m;
  ASSERT_TRUE(insecure->WaitForOutput(
      std::regex(R"(listening on [0-9.]+:([0-9]+) \(http [0-9.]+:([0-9]+)\))"),
      &m))
      << insecure->Output();
  std::string port = m[1], http_port = m[2];
  ASSERT_TRUE(
      client::Client("127.0.0.1:" + port).WaitUntilServing(30'000).ok());
  EXPECT_THAT(
      insecure->Output(),
      HasSubstr("--insecure: 0.0.0.0:0 is not a loopback address and TLS "
                "(--tls-cert, --tls-key) and tokens (--auth-tokens) are "
                "off"));
  client::Client c("127.0.0.1:" + port);
  auto stats = c.GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->warnings_size(), 1);
  EXPECT_THAT(stats->warnings(0), HasSubstr("insecure: 0.0.0.0:0"));
  EXPECT_FALSE(stats->auth_required());
  httplib::Client http("127.0.0.1", std::stoi(http_port));
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("jobq_insecure 1"));
  EXPECT_EQ(insecure->Stop(SIGTERM), 0);
}

// The Python worker sends its token.
TEST_F(AuthTest, ThePythonWorkerSendsItsToken) {
  std::string token_file = TempPath("worker.token");
  std::ofstream(token_file) << "worker-secret\n";
  auto worker = ChildProcess::Start(
      {"/usr/bin/python3", JOBQ_PYTHON_WORKER, "--addr", jobqd_->address(),
       "--queue", "billing", "--token-file", token_file},
      {std::string("PYTHONPATH=") + JOBQ_PYTHONPATH});
  ASSERT_TRUE(worker->WaitForOutput(std::regex("connected")))
      << worker->Output();
  v1::JobEvent last =
      RunToEnd(*AsToken("ops"), MakeSpec("py.upper", "billing", "quiet"));
  EXPECT_EQ(last.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(last.result(), "QUIET");
  EXPECT_EQ(worker->Stop(SIGTERM), 0);
}

// With tokens on, /metrics (which names every queue) needs a token with
// the read role; the probes stay open and name no queue.
TEST_F(AuthTest, MetricsNeedAReadTokenAndProbesStayOpen) {
  ASSERT_TRUE(AsToken("ops")->Submit(MakeSpec("noop", "billing")).ok());
  httplib::Client http("127.0.0.1", jobqd_->http_port());
  auto anonymous = http.Get("/metrics");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(anonymous->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_THAT(anonymous->body, ::testing::Not(HasSubstr("billing")));
  auto unknown =
      http.Get("/metrics", {{"Authorization", "Bearer nobody-secret"}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);
  auto no_role =
      http.Get("/metrics", {{"Authorization", "Bearer producer-secret"}});
  ASSERT_TRUE(no_role);
  EXPECT_EQ(no_role->status, 403);
  EXPECT_THAT(no_role->body, ::testing::Not(HasSubstr("jobq_")));
  auto reader =
      http.Get("/metrics", {{"authorization", "Bearer reader-secret"}});
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->status, 200);
  EXPECT_THAT(reader->body, HasSubstr("queue=\"billing\""));
  for (const char* probe : {"/healthz", "/readyz"}) {
    auto r = http.Get(probe);
    ASSERT_TRUE(r) << probe;
    EXPECT_EQ(r->status, 200) << probe;
    EXPECT_THAT(r->body, ::testing::Not(HasSubstr("billing"))) << probe;
  }
}

TEST(AuthMetricsTest, MetricsPublicServesMetricsWithoutATokenAndWarns) {
  std::string tokens = TempPath("tokens.yaml");
  std::ofstream(tokens) << TokensYaml({Entry("ops", "admin")});
  auto jobqd =
      JobqdProcess::Start({"--auth-tokens", tokens, "--metrics-public"});
  ASSERT_NE(jobqd, nullptr);
  EXPECT_THAT(jobqd->Log(), HasSubstr("--metrics-public: /metrics is served "
                                      "without a token"));
  httplib::Client http("127.0.0.1", jobqd->http_port());
  auto r = http.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("jobq_"));
  // The gRPC side still wants its token.
  EXPECT_EQ(jobqd->client().GetStats().status().code(), Code::kUnauthenticated);
}

}  // namespace
}  // namespace jobq::testing
