// The key table drives the file, the flags, the JOBQ_* variables, the
// defaults, --help and the README's table.
#include "config/config_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "config/command_line.h"

namespace jobq::config {
namespace {

using ::testing::HasSubstr;

struct Read {
  CommandLineOutcome outcome;
  std::string out;
  std::string err;
};

// Runs ReadCommandLine on `args` with `env` set for the call only.
Read ReadWith(
    std::vector<std::string> args,
    const std::vector<std::pair<std::string, std::string>>& env = {}) {
  for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
  args.insert(args.begin(), "jobqd");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  Read r{ReadCommandLine(static_cast<int>(argv.size()), argv.data(), out, err),
         "", ""};
  r.out = out.str();
  r.err = err.str();
  for (const auto& [name, value] : env) unsetenv(name.c_str());
  return r;
}

bool IsBool(const ConfigKey& key) {
  return std::holds_alternative<bool ServerConfig::*>(key.field);
}

// A value of the key's type, other than its default, that ValidateConfig
// accepts.
std::string SampleValue(const ConfigKey& key) {
  if (std::string(key.name) == "sync") return "none";
  if (std::string(key.name) == "recover") return "skip-corrupt";
  struct Sample {
    std::string operator()(std::string ServerConfig::*) { return "sample-x"; }
    std::string operator()(int ServerConfig::*) { return "7"; }
    std::string operator()(size_t ServerConfig::*) { return "3MiB"; }
    std::string operator()(DurationUs ServerConfig::*) { return "90s"; }
    std::string operator()(bool ServerConfig::*) { return "true"; }
    std::string operator()(double ServerConfig::*) { return "12.5"; }
    std::string operator()(CommandLimits ServerConfig::*) { return ""; }
    std::string operator()(
        std::map<std::string, CommandConfig> ServerConfig::*) {
      return "";
    }
    std::string operator()(std::map<std::string, QueueConfig> ServerConfig::*) {
      return "";
    }
  };
  return std::visit(Sample{}, key.field);
}

// `config` with the key's field set back to its default.
ServerConfig WithDefaultField(const ConfigKey& key, ServerConfig config) {
  const ServerConfig defaults;
  std::visit([&](auto field) { config.*field = defaults.*field; }, key.field);
  return config;
}

TEST(ConfigKeysTest, EveryKeyIsReadAlikeFromItsFlagItsVariableAndTheFile) {
  int checked = 0;
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.file_only) continue;
    SCOPED_TRACE(key.name);
    const std::string value = SampleValue(key);
    ServerConfig from_file;
    ASSERT_TRUE(
        ParseConfigYaml(std::string(key.name) + ": " + value + "\n", &from_file)
            .ok());
    EXPECT_NE(from_file, ServerConfig()) << "the sample is the default";
    // The value landed in the key's own field and nowhere else.
    EXPECT_EQ(WithDefaultField(key, from_file), ServerConfig());

    Read flag = IsBool(key) ? ReadWith({FlagName(key)})
                            : ReadWith({FlagName(key), value});
    ASSERT_FALSE(flag.outcome.exit_code) << flag.err;
    EXPECT_EQ(flag.outcome.config, from_file);

    Read env = ReadWith({}, {{EnvName(key), value}});
    ASSERT_FALSE(env.outcome.exit_code) << env.err;
    EXPECT_EQ(env.outcome.config, from_file);
    ++checked;
  }
  EXPECT_GE(checked, 32);
}

TEST(ConfigKeysTest, FlagsAndVariablesLandInTheFieldsTheirNamesSay) {
  Read r = ReadWith({"--compact-min", "1MiB", "--max-payload", "2MiB",
                     "--insecure", "--workers", "3"},
                    {{"JOBQ_LEASE", "45s"},
                     {"JOBQ_METRICS_PUBLIC", "true"},
                     {"JOBQ_COMMAND_GROUP", "staff"}});
  ASSERT_FALSE(r.outcome.exit_code) << r.err;
  const ServerConfig& c = r.outcome.config;
  EXPECT_EQ(c.compact_min_bytes, 1u << 20);
  EXPECT_EQ(c.max_payload, 2u << 20);
  EXPECT_TRUE(c.insecure);
  EXPECT_EQ(c.workers, 3);
  EXPECT_EQ(c.lease, 45 * kSecond);
  EXPECT_TRUE(c.metrics_public);
  EXPECT_EQ(c.command_group, "staff");
}

TEST(ConfigKeysTest,
     AFlagBeatsItsVariableWhichBeatsTheFileWhichBeatsTheDefault) {
  const std::string path = ::testing::TempDir() + "/precedence.yaml";
  std::ofstream(path) << "max_payload: 2MiB\nretention: 2h\nworkers: 3\n";
  Read r = ReadWith({"--max-payload", "4MiB"}, {{"JOBQ_CONFIG", path},
                                                {"JOBQ_MAX_PAYLOAD", "3MiB"},
                                                {"JOBQ_RETENTION", "3h"}});
  ASSERT_FALSE(r.outcome.exit_code) << r.err;
  EXPECT_EQ(r.outcome.config.max_payload, 4u << 20);          // The flag.
  EXPECT_EQ(r.outcome.config.retention, 3 * 3600 * kSecond);  // The variable.
  EXPECT_EQ(r.outcome.config.workers, 3);                     // The file.
  EXPECT_EQ(r.outcome.config.listen, "127.0.0.1:7070");       // The default.
  // An empty variable counts as unset.
  r = ReadWith({"--config", path}, {{"JOBQ_WORKERS", ""}});
  ASSERT_FALSE(r.outcome.exit_code) << r.err;
  EXPECT_EQ(r.outcome.config.workers, 3);
  // A bool flag given false beats a variable that says true.
  r = ReadWith({"--insecure=false"}, {{"JOBQ_INSECURE", "true"}});
  ASSERT_FALSE(r.outcome.exit_code) << r.err;
  EXPECT_FALSE(r.outcome.config.insecure);
  std::remove(path.c_str());
}

TEST(ConfigKeysTest, ABadValueStopsWithTheFlagNamedWhereverItCameFrom) {
  Read r = ReadWith({"--max-payload", "lots"});
  EXPECT_EQ(r.outcome.exit_code, 2);
  EXPECT_EQ(r.err,
            "jobqd: --max-payload: must be a size such as 1048576 or 1MiB\n");
  r = ReadWith({}, {{"JOBQ_MAX_PAYLOAD", "lots"}});
  EXPECT_EQ(r.outcome.exit_code, 2);
  EXPECT_EQ(r.err,
            "jobqd: --max-payload: must be a size such as 1048576 or 1MiB\n");
  // The flag whose name is not derived from its key is named as typed.
  r = ReadWith({"--compact-min", "big"});
  EXPECT_EQ(r.outcome.exit_code, 2);
  EXPECT_EQ(r.err,
            "jobqd: --compact-min: must be a size such as 1048576 or 1MiB\n");
  r = ReadWith({"--lease", "500ms"});
  EXPECT_EQ(r.err, "jobqd: --lease: must be at least 1s\n");
  r = ReadWith({"--workers", "300"});
  EXPECT_EQ(r.err, "jobqd: --workers: must be an integer between 0 and 256\n");
  // Values that do not fit together are named by their key.
  r = ReadWith({"--sync", "sometimes"});
  EXPECT_EQ(r.outcome.exit_code, 2);
  EXPECT_EQ(r.err, "jobqd: config: sync: fsync or none\n");
  // A bad file names the file and the key.
  const std::string path = ::testing::TempDir() + "/bad.yaml";
  std::ofstream(path) << "workers: many\n";
  r = ReadWith({"--config", path});
  EXPECT_EQ(r.outcome.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(path + ": config: workers: must be"));
  std::remove(path.c_str());
}

TEST(ConfigKeysTest, FileOnlyKeysAndUnknownFlagsAreUsageErrors) {
  for (const char* flag : {"--commands", "--command-limits", "--listne"}) {
    Read r = ReadWith({flag, "x"});
    ASSERT_TRUE(r.outcome.exit_code) << flag;
    EXPECT_NE(*r.outcome.exit_code, 0) << flag;
    EXPECT_NE(*r.outcome.exit_code, 2) << flag;  // CLI11's usage codes.
    EXPECT_THAT(r.err, HasSubstr(flag));
  }
}

TEST(ConfigKeysTest, TheTableNamesEachKeyOnceWithItsFlagAndVariable) {
  std::set<std::string> names, flags, envs;
  for (const ConfigKey& key : ConfigKeys()) {
    SCOPED_TRACE(key.name);
    EXPECT_TRUE(names.insert(key.name).second);
    EXPECT_EQ(FindConfigKey(key.name), &key);
    bool structured =
        std::holds_alternative<CommandLimits ServerConfig::*>(key.field) ||
        std::holds_alternative<
            std::map<std::string, CommandConfig> ServerConfig::*>(key.field) ||
        std::holds_alternative<
            std::map<std::string, QueueConfig> ServerConfig::*>(key.field);
    EXPECT_EQ(key.file_only, structured);
    EXPECT_EQ(key.default_value == nullptr, structured);
    if (key.file_only) {
      EXPECT_EQ(FlagName(key), "");
      EXPECT_EQ(EnvName(key), "");
      continue;
    }
    EXPECT_TRUE(flags.insert(FlagName(key)).second);
    EXPECT_TRUE(envs.insert(EnvName(key)).second);
    std::string env = "JOBQ_" + FlagName(key).substr(2);
    env = absl::StrReplaceAll(env, {{"-", "_"}});
    for (char& ch : env) ch = static_cast<char>(std::toupper(ch));
    EXPECT_EQ(EnvName(key), env);
  }
  EXPECT_EQ(FindConfigKey("listne"), nullptr);
  EXPECT_EQ(FlagName(*FindConfigKey("compact_min_bytes")), "--compact-min");
  EXPECT_EQ(EnvName(*FindConfigKey("compact_min_bytes")), "JOBQ_COMPACT_MIN");
}

TEST(ConfigKeysTest, HelpListsEveryKeyWithItsVariableAndDefault) {
  const std::string help = CommandLineHelp();
  for (const ConfigKey& key : ConfigKeys()) {
    SCOPED_TRACE(key.name);
    if (key.file_only) {
      EXPECT_THAT(help, ::testing::ContainsRegex(absl::StrCat(
                            "only the --config file can hold: .*", key.name)));
      continue;
    }
    // "--listen" alone, not inside "--http-listen".
    const std::string alone = absl::StrCat(" ", FlagName(key), "[ =\n]");
    EXPECT_THAT(help, ::testing::ContainsRegex(alone));
    EXPECT_THAT(help, HasSubstr("Env:" + EnvName(key)));
    std::string shown = absl::StrReplaceAll(ShownDefault(key), {{"`", ""}});
    if (!shown.empty()) {
      EXPECT_THAT(help, HasSubstr("(default " + shown + ")"));
    }
  }
  EXPECT_THAT(help, HasSubstr("Env:JOBQ_CONFIG"));
  Read r = ReadWith({"--help"});
  EXPECT_EQ(r.outcome.exit_code, 0);
  // The same text, but for the program's name in "Usage:".
  EXPECT_EQ(r.out.substr(r.out.find("Options:")),
            help.substr(help.find("Options:")));
}

TEST(ConfigKeysTest, TheReadmeTableIsTheGeneratedReference) {
  Read r = ReadWith({"--print-config-reference"});
  EXPECT_EQ(r.outcome.exit_code, 0);
  EXPECT_EQ(r.out, ConfigReferenceMarkdown());
  for (const ConfigKey& key : ConfigKeys()) {
    EXPECT_THAT(r.out, HasSubstr("| `" + std::string(key.name) + "` |"));
  }
  std::ifstream in(JOBQ_SOURCE_DIR "/README.md");
  std::stringstream readme;
  readme << in.rdbuf();
  EXPECT_THAT(readme.str(), HasSubstr(ConfigReferenceMarkdown()))
      << "regenerate the README's table with jobqd --print-config-reference";
}

TEST(ConfigKeysTest, TheShippedExampleNamesEveryKey) {
  std::ifstream in(JOBQ_SOURCE_DIR "/deploy/jobqd.example.yaml");
  std::stringstream example;
  example << in.rdbuf();
  for (const ConfigKey& key : ConfigKeys()) {
    // Set, or shown in a comment: "key:" or "# key:" at a line's start.
    EXPECT_THAT(example.str(), ::testing::ContainsRegex(
                                   absl::StrCat("\n(# )?", key.name, ":")))
        << key.name;
  }
}

// The defaults moved into the table; these are the ones jobqd has always had.
TEST(ConfigKeysTest, DefaultsAreThoseOfTheTable) {
  const ServerConfig c;
  EXPECT_EQ(c.listen, "127.0.0.1:7070");
  EXPECT_EQ(c.http_listen, "127.0.0.1:7071");
  EXPECT_EQ(c.workers, 0);
  EXPECT_EQ(c.max_payload, 1u << 20);
  EXPECT_EQ(c.retention, 3600 * kSecond);
  EXPECT_EQ(c.max_finished, 100'000u);
  EXPECT_EQ(c.shutdown_grace, 30 * kSecond);
  EXPECT_EQ(c.lease, 30 * kSecond);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.log_format, "text");
  EXPECT_EQ(c.stream_buffer, 10'000u);
  EXPECT_EQ(c.max_stream_memory, 256u << 20);
  EXPECT_EQ(c.max_running, 100'000u);
  EXPECT_EQ(c.max_queued, 0u);
  EXPECT_EQ(c.data_dir, "");
  EXPECT_EQ(c.sync, "fsync");
  EXPECT_EQ(c.recover, "strict");
  EXPECT_EQ(c.compact_min_bytes, 64u << 20);
  EXPECT_TRUE(c.commands.empty());
  EXPECT_EQ(c.tls_cert + c.tls_key + c.tls_client_ca + c.auth_tokens, "");
  EXPECT_FALSE(c.insecure);
  EXPECT_FALSE(c.metrics_public);
  EXPECT_EQ(c.submit_rate, 0);
  EXPECT_EQ(c.submit_burst, 0);
  EXPECT_EQ(c.max_connections, 10'000u);
  EXPECT_EQ(c.max_streams_per_connection, 1000u);
  EXPECT_EQ(c.max_message_size, 64u << 20);
  EXPECT_EQ(c.max_watchers_per_queue, 10'000u);
  EXPECT_EQ(c.command_user, "nobody");
  EXPECT_EQ(c.command_group, "");
  EXPECT_FALSE(c.command_limits.any());
  EXPECT_TRUE(ValidateConfig(c).ok());
}

}  // namespace
}  // namespace jobq::config
