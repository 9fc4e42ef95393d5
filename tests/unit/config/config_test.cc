#include "config/config.h"

#include <gtest/gtest.h>

#include <functional>

namespace jobq::config {
namespace {

TEST(ConfigTest, ReadsSettingsAndCommands) {
  ServerConfig c;
  ASSERT_TRUE(ParseConfigYaml(R"(
listen: 0.0.0.0:9000
workers: 3
max_payload: 64KiB
retention: 10m
shutdown_grace: 5s
commands:
  resize:
    argv: ["/usr/bin/convert", "-", "-resize", "50%", "-"]
    env: {MAGICK_THREAD_LIMIT: "1"}
    cwd: /tmp
    timeout: 30s
    max_output: 2MiB
)",
                              &c)
                  .ok());
  EXPECT_EQ(c.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.workers, 3);
  EXPECT_EQ(c.max_payload, 64u * 1024);
  EXPECT_EQ(c.retention, 600 * kSecond);
  EXPECT_EQ(c.shutdown_grace, 5 * kSecond);
  ASSERT_EQ(c.commands.count("resize"), 1u);
  const CommandConfig& cmd = c.commands["resize"];
  EXPECT_EQ(cmd.argv.size(), 5u);
  EXPECT_EQ(cmd.env.at("MAGICK_THREAD_LIMIT"), "1");
  EXPECT_EQ(cmd.cwd, "/tmp");
  EXPECT_EQ(cmd.timeout, 30 * kSecond);
  EXPECT_EQ(cmd.max_output, 2u << 20);
}

TEST(ConfigTest, UnsetKeysKeepTheirDefaults) {
  ServerConfig c;
  ASSERT_TRUE(ParseConfigYaml("workers: 2\n", &c).ok());
  EXPECT_EQ(c.listen, "127.0.0.1:7070");
  EXPECT_EQ(c.max_finished, 100'000u);
  ASSERT_TRUE(ParseConfigYaml("", &c).ok());
}

TEST(ConfigTest, ErrorsNameTheKey) {
  struct Case {
    const char* yaml;
    const char* key;
  } cases[] = {
      {"listne: x\n", "listne"},
      {"workers: many\n", "workers"},
      {"retention: forever\n", "retention"},
      {"max_payload: lots\n", "max_payload"},
      {"commands:\n  x:\n    argv: []\n", "commands.x.argv"},
      {"commands:\n  x:\n    argv: [\"relative\"]\n", "commands.x.argv"},
      {"commands:\n  x:\n    argv: [\"/bin/true\"]\n    user: root\n",
       "commands.x.user"},
      {"commands:\n  x:\n    argv: [\"/bin/true\"]\n    max_output: 5GiB\n",
       "commands.x.max_output"},
      {"[unbalanced\n", ""},
  };
  for (const auto& c : cases) {
    ServerConfig config;
    absl::Status s = ParseConfigYaml(c.yaml, &config);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_NE(s.message().find(c.key), std::string::npos) << s;
  }
}

TEST(ConfigTest, MissingFileIsNotFound) {
  ServerConfig c;
  EXPECT_EQ(LoadConfigFile("/nonexistent/jobq.yaml", &c).code(),
            absl::StatusCode::kNotFound);
}

TEST(ConfigTest, SizesAndDurationsParse) {
  size_t n;
  EXPECT_TRUE(ParseSizeText("1024", &n));
  EXPECT_EQ(n, 1024u);
  EXPECT_TRUE(ParseSizeText("3MiB", &n));
  EXPECT_EQ(n, 3u << 20);
  EXPECT_FALSE(ParseSizeText("3MB", &n));
  EXPECT_FALSE(ParseSizeText("-1", &n));
  DurationUs d;
  EXPECT_TRUE(ParseDurationText("1h30m", &d));
  EXPECT_EQ(d, 5400 * kSecond);
  EXPECT_FALSE(ParseDurationText("-1s", &d));
}

TEST(ConfigTest, SecurityKeysParse) {
  ServerConfig c;
  ASSERT_TRUE(ParseConfigYaml(R"(
auth_tokens: /etc/jobq/tokens.yaml
insecure: true
submit_rate: 250.5
submit_burst: 1000
max_streams_per_connection: 100
max_message_size: 8MiB
max_watchers_per_queue: 50
command_user: jobq-run
command_group: jobq-run
command_limits: {cpu: 30s, address_space: 1GiB, open_files: 64}
commands:
  convert:
    argv: [/usr/bin/convert]
    limits: {cpu: 2m}
)",
                              &c)
                  .ok());
  EXPECT_EQ(c.auth_tokens, "/etc/jobq/tokens.yaml");
  EXPECT_TRUE(c.insecure);
  EXPECT_DOUBLE_EQ(c.submit_rate, 250.5);
  EXPECT_DOUBLE_EQ(c.submit_burst, 1000);
  EXPECT_EQ(c.max_streams_per_connection, 100u);
  EXPECT_EQ(c.max_message_size, 8u << 20);
  EXPECT_EQ(c.max_watchers_per_queue, 50u);
  EXPECT_EQ(c.command_user, "jobq-run");
  EXPECT_EQ(c.command_limits.cpu, 30 * kSecond);
  EXPECT_EQ(c.command_limits.address_space, size_t{1} << 30);
  EXPECT_EQ(c.command_limits.open_files, 64u);
  EXPECT_EQ(c.commands["convert"].limits.cpu, 120 * kSecond);
  EXPECT_EQ(c.commands["convert"].limits.open_files, 0u);
  EXPECT_TRUE(ValidateConfig(c).ok());
}

TEST(ConfigTest, TheShippedExampleIsValid) {
  ServerConfig c;
  absl::Status s =
      LoadConfigFile(JOBQ_SOURCE_DIR "/deploy/jobqd.example.yaml", &c);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(ValidateConfig(c).ok());
  EXPECT_EQ(c.commands["thumbnail"].limits.cpu, 20 * kSecond);
  EXPECT_EQ(c.command_limits.open_files, 256u);
}

TEST(ConfigTest, FlagsAreCheckedAsTheFileIsAndNamedAsFlags) {
  ServerConfig c;
  ASSERT_TRUE(
      ApplyFlags({{"max_payload", "2MiB"}, {"insecure", "true"}}, &c).ok());
  EXPECT_EQ(c.max_payload, 2u << 20);
  EXPECT_TRUE(c.insecure);
  absl::Status s = ApplyFlags({{"max_watchers_per_queue", "many"}}, &c);
  EXPECT_EQ(s.message(),
            "--max-watchers-per-queue: must be a size such as 1048576 or 1MiB");
  s = ApplyFlags({{"command_limits", "x"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = ApplyFlags({{"submit_rate", "-3"}}, &c);
  EXPECT_EQ(s.message(), "--submit-rate: must be a number between 0 and 1e9");
}

TEST(ConfigTest, ValidationNamesTheKeyThatDoesNotFit) {
  struct Case {
    std::function<void(ServerConfig&)> change;
    std::string error;
  };
  const Case cases[] = {
      {[](ServerConfig& c) { c.sync = "sometimes"; }, "sync"},
      {[](ServerConfig& c) { c.recover = "maybe"; }, "recover"},
      {[](ServerConfig& c) { c.max_streams_per_connection = 0; },
       "max_streams_per_connection"},
      {[](ServerConfig& c) { c.max_message_size = c.max_payload; },
       "max_message_size: between max_payload + 64KiB"},
      {[](ServerConfig& c) { c.command_user = ""; }, "command_user"},
      {[](ServerConfig& c) { c.stream_buffer = 0; }, "stream_buffer"},
      {[](ServerConfig& c) {
         c.postgres = "dbname=jobq";
         c.data_dir = "/var/lib/jobq";
       },
       "--postgres and --data-dir (postgres, data_dir) are both given"},
  };
  for (const Case& k : cases) {
    ServerConfig c;
    ASSERT_TRUE(ValidateConfig(c).ok());
    k.change(c);
    absl::Status s = ValidateConfig(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << k.error;
    EXPECT_NE(s.message().find(k.error), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace jobq::config
