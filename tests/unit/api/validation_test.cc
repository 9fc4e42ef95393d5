#include "api/validation.h"

// GCC 12 warns falsely about std::string assignment at -O2 (GCC bug 105329).
#pragma GCC diagnostic ignored "-Wrestrict"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace jobq::api {
namespace {

class ValidationTest : public ::testing::Test {
 protected:
  ValidationTest() {
    limits_.max_payload = 16;
    spec_.set_kind("noop");
  }
  // Expects INVALID_ARGUMENT with a message that names `field`.
  void ExpectInvalid(const std::string& field) {
    absl::Status s = ValidateSpec(spec_, limits_);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_EQ(std::string(s.message()).rfind("job." + field + ":", 0), 0u)
        << s.message();
  }
  ValidationLimits limits_;
  v1::JobSpec spec_;
};

TEST_F(ValidationTest, MinimalSpecIsValidAndGetsTheDefaultQueue) {
  ASSERT_TRUE(ValidateSpec(spec_, limits_).ok());
  EXPECT_EQ(spec_.queue(), "default");
}

TEST_F(ValidationTest, QueueNamesFollowThePattern) {
  for (const char* good : {"a", "emails", "q-1", "a.b_c", "0"}) {
    spec_.set_queue(good);
    EXPECT_TRUE(ValidateSpec(spec_, limits_).ok()) << good;
  }
  for (std::string bad : std::vector<std::string>{"A", "-q", ".q", "q q", "q/1",
                                                  "ü", std::string(65, 'a')}) {
    spec_.set_queue(bad);
    ExpectInvalid("queue");
  }
  spec_.set_queue(std::string(64, 'a'));
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
}

TEST_F(ValidationTest, AnyKindOfTheRightFormIsAcceptedForRemoteWorkers) {
  for (const char* good :
       {"resize-image", "Mail.Send", "a", "billing/v2:charge", "x_1"}) {
    spec_.set_kind(good);
    EXPECT_TRUE(ValidateSpec(spec_, limits_).ok()) << good;
  }
  spec_.set_kind(std::string(128, 'k'));
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
  for (std::string bad : std::vector<std::string>{"", "-x", "a b", "a\n", "ü",
                                                  std::string(129, 'k')}) {
    spec_.set_kind(bad);
    ExpectInvalid("kind");
  }
  spec_.set_kind("a b");
  absl::Status s = ValidateSpec(spec_, limits_);
  EXPECT_NE(s.message().find(kKindPattern), std::string::npos) << s;
}

TEST_F(ValidationTest, PayloadLargerThanTheLimitIsRejected) {
  spec_.set_payload(std::string(16, 'x'));
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
  spec_.set_payload(std::string(17, 'x'));
  ExpectInvalid("payload");
}

TEST_F(ValidationTest, SleepPayloadMustBeADuration) {
  spec_.set_kind("sleep");
  spec_.set_payload("250ms");
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
  for (const char* bad : {"", "soon", "-1s", "5"}) {
    spec_.set_payload(bad);
    ExpectInvalid("payload");
  }
}

TEST_F(ValidationTest, NegativeOrMalformedDurationsAreRejected) {
  spec_.mutable_delay()->set_seconds(-1);
  ExpectInvalid("delay");
  spec_.mutable_delay()->set_seconds(1);
  spec_.mutable_delay()->set_nanos(-5);
  ExpectInvalid("delay");
  spec_.clear_delay();
  spec_.mutable_timeout()->set_seconds(-3);
  ExpectInvalid("timeout");
  spec_.clear_timeout();
  spec_.mutable_run_at()->set_seconds(-1);
  ExpectInvalid("run_at");
}

TEST_F(ValidationTest, RetryValuesOutOfRangeAreRejected) {
  spec_.mutable_retry()->set_max_attempts(-1);
  ExpectInvalid("retry.max_attempts");
  spec_.mutable_retry()->set_max_attempts(101);
  ExpectInvalid("retry.max_attempts");
  spec_.mutable_retry()->set_max_attempts(5);
  spec_.mutable_retry()->set_multiplier(0.5);
  ExpectInvalid("retry.multiplier");
  spec_.mutable_retry()->set_multiplier(2);
  spec_.mutable_retry()->mutable_initial_backoff()->set_seconds(-1);
  ExpectInvalid("retry.initial_backoff");
  spec_.mutable_retry()->clear_initial_backoff();
  spec_.mutable_retry()->mutable_max_backoff()->set_seconds(-1);
  ExpectInvalid("retry.max_backoff");
  spec_.mutable_retry()->clear_max_backoff();
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
}

TEST_F(ValidationTest, TooManyOrTooLongLabelsAreRejected) {
  for (int i = 0; i < 33; ++i) {
    (*spec_.mutable_labels())[absl::StrCat("k", i)] = "v";
  }
  ExpectInvalid("labels");
  spec_.clear_labels();
  (*spec_.mutable_labels())[std::string(64, 'k')] = "v";
  ExpectInvalid("labels");
  spec_.clear_labels();
  (*spec_.mutable_labels())["k"] = std::string(256, 'v');
  ExpectInvalid("labels");
  spec_.clear_labels();
  (*spec_.mutable_labels())[""] = "v";
  ExpectInvalid("labels");
}

TEST_F(ValidationTest, OverlongIdempotencyKeyIsRejected) {
  spec_.set_idempotency_key(std::string(256, 'k'));
  ExpectInvalid("idempotency_key");
}

TEST_F(ValidationTest, BatchPrefixNamesTheJob) {
  spec_.set_kind("");
  absl::Status s = ValidateSpec(spec_, limits_, "jobs[7].");
  EXPECT_EQ(std::string(s.message()).rfind("jobs[7].kind:", 0), 0u) << s;
}

TEST_F(ValidationTest, ANegativeNanosPartIsRejectedEvenBelowAMicrosecond) {
  // -1ns converts to 0 µs: it must be refused before the conversion.
  for (int nanos : {-1, -999, -1000, -500'000'000}) {
    spec_.mutable_timeout()->set_seconds(0);
    spec_.mutable_timeout()->set_nanos(nanos);
    ExpectInvalid("timeout");
    spec_.clear_timeout();
    spec_.mutable_delay()->set_nanos(nanos);
    ExpectInvalid("delay");
    spec_.clear_delay();
    spec_.mutable_retry()->mutable_initial_backoff()->set_nanos(nanos);
    ExpectInvalid("retry.initial_backoff");
    spec_.clear_retry();
  }
  spec_.mutable_timeout()->set_nanos(1'000'000'000);
  ExpectInvalid("timeout");
  spec_.mutable_timeout()->set_nanos(999'999'999);
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
}

TEST_F(ValidationTest, HugeDurationsAreRejectedWithoutOverflow) {
  spec_.mutable_delay()->set_seconds(315'576'000'000LL);  // The proto's max.
  ExpectInvalid("delay");
  spec_.mutable_delay()->set_seconds(kMaxDelay / kSecond);
  spec_.mutable_delay()->set_nanos(1000);
  ExpectInvalid("delay");
  spec_.mutable_delay()->set_nanos(0);
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
  spec_.clear_delay();
  spec_.mutable_retry()->set_multiplier(
      std::numeric_limits<double>::quiet_NaN());
  ExpectInvalid("retry.multiplier");
  spec_.mutable_retry()->set_multiplier(
      std::numeric_limits<double>::infinity());
  ExpectInvalid("retry.multiplier");
}

TEST_F(ValidationTest, RunAtHasTheSameHorizonAsDelay) {
  FakeClock clock(1'700'000'000 * kSecond);
  limits_.clock = &clock;
  int64_t now_s = clock.Now() / kSecond;
  spec_.mutable_run_at()->set_seconds(now_s + kMaxDelay / kSecond);
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
  spec_.mutable_run_at()->set_seconds(now_s + kMaxDelay / kSecond + 1);
  ExpectInvalid("run_at");
  spec_.mutable_run_at()->set_seconds(253'402'300'799LL);  // Year 9999.
  ExpectInvalid("run_at");
  // In the past is fine: the job is due now.
  spec_.mutable_run_at()->set_seconds(now_s - 3600);
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
  // The horizon moves with the clock.
  spec_.mutable_run_at()->set_seconds(now_s + kMaxDelay / kSecond + 1);
  clock.Set(clock.Now() + 2 * kSecond);
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
}

TEST_F(ValidationTest, LabelKeysWithControlCharactersOrEqualsAreRejected) {
  for (std::string bad :
       {std::string("a=b"), std::string("a\nb"), std::string("tab\t"),
        std::string("sp ace"), std::string("nul\0x", 5), std::string("del\x7f"),
        std::string("caf\xc3\xa9")}) {
    spec_.clear_labels();
    (*spec_.mutable_labels())[bad] = "v";
    ExpectInvalid("labels");
  }
  spec_.clear_labels();
  (*spec_.mutable_labels())["team"] = "line\nbreak";
  ExpectInvalid("labels");
  spec_.clear_labels();
  (*spec_.mutable_labels())["team"] = "a=b, caf\xc3\xa9";  // '=' and UTF-8.
  (*spec_.mutable_labels())["app.kubernetes.io/name"] = "x";
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
  spec_.clear_labels();
  (*spec_.mutable_labels())[std::string(kMaxLabelKey, 'k')] =
      std::string(kMaxLabelValue, 'v');
  EXPECT_TRUE(ValidateSpec(spec_, limits_).ok());
}

TEST_F(ValidationTest, UserStringsAreEscapedInErrorMessages) {
  spec_.set_kind("evil\nINFO forged line\x1b[31m");
  absl::Status s = ValidateSpec(spec_, limits_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  std::string m(s.message());
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_EQ(m.find('\x1b'), std::string::npos) << m;
  EXPECT_NE(m.find("\"evil\\nINFO forged line\\033[31m\""), std::string::npos)
      << m;
  spec_.set_kind("noop");
  spec_.set_queue("q\r\n");
  s = ValidateSpec(spec_, limits_);
  EXPECT_NE(std::string(s.message()).find("\"q\\r\\n\""), std::string::npos)
      << s;
  (*spec_.mutable_labels())["k\n"] = "v";
  spec_.set_queue("q");
  s = ValidateSpec(spec_, limits_);
  EXPECT_EQ(std::string(s.message()).find('\n'), std::string::npos) << s;
  EXPECT_EQ(Quoted(std::string(100, 'x')),
            "\"" + std::string(80, 'x') + "...\"");
}

}  // namespace
}  // namespace jobq::api
