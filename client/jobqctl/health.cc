// The health verb: exit 0 only when jobqd reports SERVING, at once or
// after waiting through start-up and recovery.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "client/jobqctl/output.h"
#include "client/jobqctl/verbs.h"

namespace jobq::ctl {
namespace {

int Health(const std::string& wait, Connection& connection) {
  auto c = connection.client();
  if (!c.ok()) return Fail(c.status());
  if (wait.empty()) {
    auto r = (*c)->Healthy();
    if (!r.ok()) return Fail(r.status());
    std::printf("%s\n", *r ? "SERVING" : "NOT_SERVING");
    return *r ? 0 : 1;
  }
  absl::Duration d;
  if (!absl::ParseDuration(wait, &d) || d <= absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return Usage("--wait: a duration such as 30s");
  }
  if (auto s = (*c)->WaitUntilServing(absl::ToInt64Milliseconds(d)); !s.ok()) {
    return Fail(s);
  }
  std::printf("SERVING\n");
  return 0;
}

}  // namespace

void AddHealthVerb(CLI::App& app, VerbTable& verbs) {
  auto* cmd =
      app.add_subcommand("health", "exit 0 only when jobqd reports SERVING");
  auto wait = std::make_shared<std::string>();
  cmd->add_option("--wait", *wait,
                  "wait up to this long (e.g. 30s) for SERVING, through "
                  "start-up and recovery");
  verbs.Add(cmd, [wait](Connection& connection) {
    return Health(*wait, connection);
  });
}

}  // namespace jobq::ctl
