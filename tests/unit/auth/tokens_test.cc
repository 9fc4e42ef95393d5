#include "auth/tokens.h"

#include <gtest/gtest.h>

#include "auth/authorizer.h"
#include "common/clock.h"

namespace jobq::auth {
namespace {

std::string Entry(const std::string& name, const std::string& token,
                  const std::string& rest) {
  return "  - name: " + name + "\n    sha256: " + Sha256Hex(token) + "\n" +
         rest;
}

TEST(TokensTest, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokensTest, FindsTheEntryOfTheTokenAndNoOther) {
  auto table = TokenTable::Parse(
      "tokens:\n" + Entry("producer", "secret-1", "    roles: [submit]\n") +
      Entry("ops", "secret-2", "    roles: [read, admin, worker]\n"));
  ASSERT_TRUE(table.ok()) << table.status();
  const Token* producer = (*table)->Find("secret-1");
  ASSERT_NE(producer, nullptr);
  EXPECT_EQ(producer->name, "producer");
  EXPECT_TRUE(producer->Has(kSubmit));
  EXPECT_FALSE(producer->Has(kRead));
  const Token* ops = (*table)->Find("secret-2");
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->roles, kRead | kAdmin | kWorker);
  EXPECT_EQ((*table)->Find("secret-3"), nullptr);
  EXPECT_EQ((*table)->Find(""), nullptr);
  EXPECT_EQ((*table)->Find("secret-1 "), nullptr);
}

TEST(TokensTest, QueuePatternsMatchNamesAndGlobs) {
  auto table = TokenTable::Parse(
      "tokens:\n" + Entry("billing", "t",
                          "    roles: [submit]\n    queues: [billing, "
                          "\"billing.*\", \"eu-?\"]\n"));
  ASSERT_TRUE(table.ok()) << table.status();
  const Token& t = (*table)->tokens()[0];
  EXPECT_TRUE(t.MayUseQueue("billing"));
  EXPECT_TRUE(t.MayUseQueue("billing.invoices"));
  EXPECT_TRUE(t.MayUseQueue("eu-1"));
  EXPECT_FALSE(t.MayUseQueue("eu-12"));
  EXPECT_FALSE(t.MayUseQueue("billing2"));
  EXPECT_FALSE(t.MayUseQueue("default"));
  EXPECT_FALSE(t.AllQueues());
  EXPECT_EQ(t.QueueList(), "billing, billing.*, eu-?");
}

TEST(TokensTest, EveryMistakeIsNamed) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  std::string hash = Sha256Hex("x");
  const Case cases[] = {
      {"", "a list `tokens`"},
      {"tokens: 3", "a list `tokens`"},
      {"tokens: []\nextra: 1", "extra: unknown key"},
      {"tokens:\n  - sha256: " + hash + "\n    roles: [read]\n",
       "tokens[0].name: required"},
      {"tokens:\n  - name: a\n    roles: [read]\n", "tokens[0].sha256"},
      {"tokens:\n  - name: a\n    sha256: abc\n    roles: [read]\n",
       "tokens[0].sha256"},
      {"tokens:\n  - name: a\n    sha256: " + hash + "\n", "tokens[0].roles"},
      {"tokens:\n  - name: a\n    sha256: " + hash + "\n    roles: [root]\n",
       "tokens[0].roles[0]: \"root\" is not"},
      {"tokens:\n  - name: a\n    sha256: " + hash +
           "\n    roles: [read]\n    queues: [\"Bad/Name\"]\n",
       "tokens[0].queues[0]"},
      {"tokens:\n  - name: a\n    sha256: " + hash +
           "\n    roles: [read]\n    queues: []\n",
       "tokens[0].queues"},
      {"tokens:\n  - name: a\n    sha256: " + hash +
           "\n    roles: [read]\n    submit_rate: fast\n",
       "tokens[0].submit_rate"},
      {"tokens:\n  - name: a\n    sha256: " + hash +
           "\n    roles: [read]\n    password: x\n",
       "tokens[0].password: unknown key"},
      {"tokens:\n  - name: a\n    sha256: " + hash +
           "\n    roles: [read]\n  - name: a\n    sha256: " + Sha256Hex("y") +
           "\n    roles: [read]\n",
       "tokens[1].name: \"a\" names two tokens"},
      {"tokens:\n  - name: a\n    sha256: " + hash +
           "\n    roles: [read]\n  - name: b\n    sha256: " + hash +
           "\n    roles: [read]\n",
       "tokens[1].sha256: the same hash"},
      {"tokens: [", "tokens"},
  };
  for (const Case& c : cases) {
    auto table = TokenTable::Parse(c.yaml);
    ASSERT_FALSE(table.ok()) << c.yaml;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(table.status().message().find(c.error), std::string::npos)
        << table.status() << " does not say " << c.error;
  }
}

TEST(TokensTest, LoadNamesTheFlagAndFile) {
  auto table = TokenTable::Load("/nonexistent/tokens.yaml");
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.status().message().find("--auth-tokens"), std::string::npos);
}

// The submit rate: a bucket per caller that fills at the rate up to the
// burst.
TEST(AuthorizerTest, SubmitRateIsATokenBucketPerToken) {
  FakeClock clock;
  auto table =
      TokenTable::Parse("tokens:\n" +
                        Entry("slow", "s",
                              "    roles: [submit]\n    submit_rate: 2\n"
                              "    submit_burst: 4\n") +
                        Entry("default", "d", "    roles: [submit]\n"));
  ASSERT_TRUE(table.ok());
  Authorizer auth(*table, RateLimit{100, 0}, &clock);
  Caller slow{*table, (*table)->Find("s")};
  Caller other{*table, (*table)->Find("d")};

  EXPECT_EQ(auth.TakeSubmits(slow, 3), 3);  // The burst holds 4.
  EXPECT_EQ(auth.TakeSubmits(slow, 3), 1);
  EXPECT_EQ(auth.TakeSubmits(slow, 1), 0);
  EXPECT_EQ(auth.rate_limited_total(), 3u);
  clock.Advance(500 * kMillisecond);  // 2/s: one more.
  EXPECT_EQ(auth.TakeSubmits(slow, 5), 1);
  clock.Advance(60 * kSecond);  // Full again, never above the burst.
  EXPECT_EQ(auth.TakeSubmits(slow, 10), 4);

  // Another token has its own bucket, at the server's rate (burst = rate).
  EXPECT_EQ(auth.TakeSubmits(other, 150), 100);
  EXPECT_EQ(auth.TakeSubmits(other, 1), 0);
  absl::Status s = auth.RateLimited(other, "jobs[7]");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("jobs[7]: \"default\" may submit 100 jobs/s"),
            std::string::npos)
      << s;
}

TEST(AuthorizerTest, WithoutARateEverySubmitPasses) {
  FakeClock clock;
  Authorizer auth(nullptr, RateLimit{}, &clock);
  EXPECT_FALSE(auth.enabled());
  Caller anyone;
  EXPECT_EQ(auth.TakeSubmits(anyone, 1'000'000), 1'000'000);
  EXPECT_TRUE(auth.CheckQueue(anyone, "anything", "job.queue").ok());
  EXPECT_TRUE(auth.CheckAllQueues(anyone, "queue").ok());
}

TEST(AuthorizerTest, QueueChecksNameTheFieldTheTokenAndItsQueues) {
  FakeClock clock;
  auto table = TokenTable::Parse(
      "tokens:\n" + Entry("billing", "b",
                          "    roles: [read]\n    queues: [\"billing.*\"]\n"));
  ASSERT_TRUE(table.ok());
  Authorizer auth(*table, RateLimit{}, &clock);
  Caller billing{*table, (*table)->Find("b")};
  EXPECT_TRUE(auth.CheckQueue(billing, "billing.eu", "queue").ok());
  absl::Status s = auth.CheckQueue(billing, "payroll", "jobs[2].queue");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "jobs[2].queue: token \"billing\" may not use queue \"payroll\" "
            "(its queues: billing.*)");
  EXPECT_EQ(auth.CheckAllQueues(billing, "queue").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(auth.denied_total(), 2u);
}

}  // namespace
}  // namespace jobq::auth
