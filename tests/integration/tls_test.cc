// TLS and mutual TLS on jobqd's gRPC listener, with certificates made by
// the openssl command for each test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <fstream>
#include <regex>

#include "client/worker.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

using ::testing::HasSubstr;

// A CA, a server certificate for localhost and 127.0.0.1, and a client
// certificate, all signed by the CA; and a second CA that signed nothing
// here.
class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempPath("pki");
    ASSERT_EQ(RunCommand("mkdir -p " + dir_).exit_code, 0);
    std::ofstream(dir_ + "/san.ext")
        << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    const std::string key =
        " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
        " -nodes";
    for (const char* ca : {"ca", "other-ca"}) {
      Openssl(std::string("req -x509") + key + " -keyout " + P(ca) +
              ".key -out " + P(ca) + ".pem -days 2 -subj /CN=" + ca);
    }
    for (const char* leaf : {"server", "client"}) {
      Openssl(std::string("req") + key + " -keyout " + P(leaf) + ".key -out " +
              P(leaf) + ".csr -subj /CN=" + leaf);
      Openssl(std::string("x509 -req -in ") + P(leaf) + ".csr -CA " + P("ca") +
              ".pem -CAkey " + P("ca") + ".key -CAcreateserial -out " +
              P(leaf) + ".pem -days 2 -extfile " + P("san") + ".ext");
    }
  }
  std::string P(const std::string& name) { return dir_ + "/" + name; }
  void Openssl(const std::string& args) {
    CommandRun r = RunCommand("openssl " + args);
    ASSERT_EQ(r.exit_code, 0) << args << "\n" << r.out;
  }
  std::unique_ptr<JobqdProcess> StartTls(bool mutual) {
    std::vector<std::string> args = {"--tls-cert", P("server.pem"), "--tls-key",
                                     P("server.key")};
    client::TlsOptions ready = Trusting("ca");
    if (mutual) {
      args.push_back("--tls-client-ca");
      args.push_back(P("ca.pem"));
      ready.cert_file = P("client.pem");
      ready.key_file = P("client.key");
    }
    return JobqdProcess::Start(args, "", ready);
  }
  // A client of `jobqd` with `tls`; the status of a submit through it.
  absl::Status SubmitWith(const JobqdProcess& jobqd,
                          const client::TlsOptions& tls) {
    auto channel = client::MakeChannel(jobqd.address(), tls);
    if (!channel.ok()) return channel.status();
    client::ClientOptions options;
    options.timeout_ms = 5000;
    client::Client c(*channel, options);
    return c.Submit(MakeSpec("noop")).status();
  }
  client::TlsOptions Trusting(const std::string& ca) {
    client::TlsOptions tls;
    tls.ca_file = P(ca + ".pem");
    return tls;
  }
  std::string dir_;
};

TEST_F(TlsTest, ClientsThatTrustItsCaAreServedAndOthersAreNot) {
  auto jobqd = StartTls(false);
  ASSERT_NE(jobqd, nullptr);
  EXPECT_THAT(jobqd->Log(), HasSubstr("tls on"));
  EXPECT_TRUE(SubmitWith(*jobqd, Trusting("ca")).ok());
  absl::Status wrong = SubmitWith(*jobqd, Trusting("other-ca"));
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnavailable) << wrong;
  absl::Status plain = SubmitWith(*jobqd, client::TlsOptions());
  EXPECT_EQ(plain.code(), absl::StatusCode::kUnavailable) << plain;
  // jobqctl speaks TLS too, from flags or the environment.
  CommandRun health = jobqd->Ctl("--tls-ca " + P("ca.pem") + " health");
  EXPECT_EQ(health.exit_code, 0) << health.out;
  EXPECT_EQ(health.out, "SERVING\n");
  CommandRun env =
      RunCommand("JOBQ_TLS_CA=" + P("ca.pem") + " " + JOBQCTL_PATH +
                 " --addr " + jobqd->address() + " submit --kind noop --wait");
  EXPECT_EQ(env.exit_code, 0) << env.out;
}

// The HTTP listener serves HTTPS with the same certificate, and under
// mutual TLS asks the same of its clients.
TEST_F(TlsTest, TheHttpListenerServesHttpsWithTheSameCertificates) {
  // A plain client writing to a TLS server that hangs up.
  signal(SIGPIPE, SIG_IGN);
  for (bool mutual : {false, true}) {
    auto jobqd = StartTls(mutual);
    ASSERT_NE(jobqd, nullptr);
    ASSERT_NE(jobqd->http_port(), 0);
    httplib::SSLClient https("127.0.0.1", jobqd->http_port());
    https.set_ca_cert_path(P("ca.pem").c_str());
    https.enable_server_certificate_verification(true);
    auto anonymous = https.Get("/metrics");
    if (mutual) {
      EXPECT_FALSE(anonymous) << "served without a client certificate";
      httplib::SSLClient with_cert("127.0.0.1", jobqd->http_port(),
                                   P("client.pem"), P("client.key"));
      with_cert.set_ca_cert_path(P("ca.pem").c_str());
      with_cert.enable_server_certificate_verification(true);
      auto ok = with_cert.Get("/readyz");
      ASSERT_TRUE(ok) << httplib::to_string(ok.error());
      EXPECT_EQ(ok->status, 200);
    } else {
      ASSERT_TRUE(anonymous) << httplib::to_string(anonymous.error());
      EXPECT_EQ(anonymous->status, 200);
      EXPECT_THAT(anonymous->body, HasSubstr("jobq_up 1"));
    }
    httplib::SSLClient untrusting("127.0.0.1", jobqd->http_port());
    untrusting.set_ca_cert_path(P("other-ca.pem").c_str());
    untrusting.enable_server_certificate_verification(true);
    EXPECT_FALSE(untrusting.Get("/healthz"));
    httplib::Client plain("127.0.0.1", jobqd->http_port());
    auto cleartext = plain.Get("/healthz");
    EXPECT_TRUE(!cleartext || cleartext->status != 200);
  }
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromItsCa) {
  auto jobqd = StartTls(true);
  ASSERT_NE(jobqd, nullptr);
  EXPECT_THAT(jobqd->Log(), HasSubstr("client certificates required"));
  absl::Status anonymous = SubmitWith(*jobqd, Trusting("ca"));
  EXPECT_EQ(anonymous.code(), absl::StatusCode::kUnavailable) << anonymous;
  client::TlsOptions tls = Trusting("ca");
  tls.cert_file = P("client.pem");
  tls.key_file = P("client.key");
  EXPECT_TRUE(SubmitWith(*jobqd, tls).ok());
  // A worker connects the same way and runs a job.
  client::Worker worker(
      *client::MakeChannel(jobqd->address(), tls), {.kinds = {"secure.echo"}},
      [](client::WorkerJob& job) {
        return client::Outcome::Success(std::string(job.payload()));
      });
  std::thread t([&] { (void)worker.Run(); });
  ASSERT_TRUE(worker.WaitWelcomed(std::chrono::seconds(30)));
  auto channel = client::MakeChannel(jobqd->address(), tls);
  ASSERT_TRUE(channel.ok());
  client::Client c(*channel);
  EXPECT_EQ(RunToEnd(c, MakeSpec("secure.echo", "", "hi")).result(), "hi");
  worker.Stop();
  t.join();
  // And the Python worker.
  auto python = ChildProcess::Start(
      {"/usr/bin/python3", JOBQ_PYTHON_WORKER, "--addr", jobqd->address(),
       "--id", "py", "--tls-ca", P("ca.pem"), "--tls-cert", P("client.pem"),
       "--tls-key", P("client.key")},
      {std::string("PYTHONPATH=") + JOBQ_PYTHONPATH});
  ASSERT_NE(python, nullptr);
  ASSERT_TRUE(python->WaitForOutput(std::regex("worker py connected")))
      << python->Output();
  EXPECT_EQ(RunToEnd(c, MakeSpec("py.upper", "", "over tls")).result(),
            "OVER TLS");
  EXPECT_EQ(python->Stop(SIGTERM), 0) << python->Output();
}

TEST_F(TlsTest, IncompleteOrUnreadableTlsSettingsStopTheStart) {
  EXPECT_THAT(
      JobqdProcess::StartExpectingFailure({"--tls-cert", P("server.pem")}),
      HasSubstr("--tls-cert and --tls-key: give both, or neither"));
  EXPECT_THAT(
      JobqdProcess::StartExpectingFailure(
          {"--tls-cert", P("server.pem"), "--tls-key", P("missing.key")}),
      HasSubstr("--tls-key: cannot read a PEM file at"));
  EXPECT_THAT(
      JobqdProcess::StartExpectingFailure({"--tls-client-ca", P("ca.pem")}),
      HasSubstr("--tls-client-ca: needs --tls-cert and --tls-key"));
  CommandRun ctl =
      RunCommand(std::string(JOBQCTL_PATH) + " --addr 127.0.0.1:1 --tls-ca " +
                 P("nothing.pem") + " health");
  EXPECT_EQ(ctl.exit_code, 1);
  EXPECT_THAT(ctl.out, HasSubstr("--tls-ca: cannot read a PEM file at"));
}

}  // namespace
}  // namespace jobq::testing
