#pragma once

// jobqctl's verbs, in groups. Each group adds its subcommands to the app,
// with the storage their flags parse into, and one run per subcommand to
// a VerbTable; main parses the command line and runs the verb given.

#include <CLI/CLI.hpp>
#include <functional>
#include <utility>
#include <vector>

#include "client/jobqctl/flags.h"

namespace jobq::ctl {

// Runs one verb after its flags were parsed. Returns jobqctl's exit code:
// 0 success, 1 a failure that jobqd or the system reported (or a job that
// did not succeed), 2 a usage error.
using VerbRun = std::function<int(Connection&)>;

// The verbs of one command line. Thread: main's only.
class VerbTable {
 public:
  // `run` runs when `command` (owned by the app) was parsed.
  void Add(CLI::App* command, VerbRun run) {
    verbs_.emplace_back(command, std::move(run));
  }
  // Runs the verb that was parsed; 0 when none was.
  int RunParsed(Connection& connection) const {
    for (const auto& [command, run] : verbs_) {
      if (command->parsed()) return run(connection);
    }
    return 0;
  }

 private:
  std::vector<std::pair<CLI::App*, VerbRun>> verbs_;
};

// The groups, in the order `jobqctl --help` lists them.
// submit, watch, get, cancel, list (jobs.cc).
void AddJobVerbs(CLI::App& app, VerbTable& verbs);
// retry, delete, purge (lifecycle.cc).
void AddLifecycleVerbs(CLI::App& app, VerbTable& verbs);
// health (health.cc).
void AddHealthVerb(CLI::App& app, VerbTable& verbs);
// stats, queues, workers, pause, resume, limit (admin.cc).
void AddAdminVerbs(CLI::App& app, VerbTable& verbs);
// schedule create|ls|get|rm|pause|resume|trigger (schedule.cc).
void AddScheduleVerbs(CLI::App& app, VerbTable& verbs);
// token new, token hash (token.cc): they call no jobqd.
void AddTokenVerbs(CLI::App& app, VerbTable& verbs);

}  // namespace jobq::ctl
