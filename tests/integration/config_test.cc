// The real jobqd's command line: --help lists every key of the table that
// --print-config-reference prints, and variables reach the binary.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

using ::testing::HasSubstr;

// Every match of `re`'s first group in `text`.
std::set<std::string> AllOf(const std::string& text, const std::regex& re) {
  std::set<std::string> found;
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end;
       ++it) {
    found.insert((*it)[1]);
  }
  return found;
}

TEST(JobqdCommandLineTest, HelpListsEveryFlagAndVariableOfTheReference) {
  CommandRun reference = RunCommand(JOBQD_PATH " --print-config-reference");
  ASSERT_EQ(reference.exit_code, 0) << reference.out;
  std::set<std::string> flags =
      AllOf(reference.out, std::regex("\\| `(--[a-z-]+)` \\|"));
  std::set<std::string> envs =
      AllOf(reference.out, std::regex("\\| `(JOBQ_[A-Z_]+)` \\|"));
  EXPECT_GE(flags.size(), 33u);  // 32 keys and --config.
  EXPECT_EQ(envs.size(), flags.size());
  CommandRun help = RunCommand(JOBQD_PATH " --help");
  ASSERT_EQ(help.exit_code, 0) << help.out;
  for (const std::string& flag : flags) {
    EXPECT_THAT(help.out, ::testing::ContainsRegex(" " + flag + "[ \n]"));
  }
  for (const std::string& env : envs) {
    EXPECT_THAT(help.out, HasSubstr("(Env:" + env + ")"));
  }
}

TEST(JobqdCommandLineTest, ABadVariableStopsTheStartNamingItsFlag) {
  CommandRun run = RunCommand("JOBQ_WORKERS=300 " JOBQD_PATH
                              " --listen 127.0.0.1:0 --http-listen ''");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.out,
            "jobqd: --workers: must be an integer between 0 and 256\n");
  run = RunCommand(JOBQD_PATH " --no-such-flag");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.out, HasSubstr("--no-such-flag"));
}

}  // namespace
}  // namespace jobq::testing
