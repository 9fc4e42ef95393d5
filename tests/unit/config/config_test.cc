#include "config/config.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace jobq::config
