#pragma once

// jobq-bench's scenarios, a file each. Each adds its subcommand and flags
// to the app and its run to a ScenarioTable; main parses the command
// line, connects and runs the scenario given.

#include <CLI/CLI.hpp>
#include <functional>
#include <utility>
#include <vector>

#include "client/bench/options.h"
#include "client/client.h"

namespace jobq::bench {

// Runs a scenario against a jobqd that reported SERVING, with the flags
// parsed into the Options it was added with. Prints its figures on stdout
// and returns the exit code: 0, 1 when anything failed, 2 for flags that
// make no sense.
using ScenarioRun = std::function<int(client::Client&)>;

// Thread: main's only.
class ScenarioTable {
 public:
  // `run` runs when `command` (owned by the app) was parsed.
  void Add(CLI::App* command, ScenarioRun run) {
    scenarios_.emplace_back(command, std::move(run));
  }
  // Runs the scenario that was parsed; 0 when none was.
  int RunParsed(client::Client& c) const {
    for (const auto& [command, run] : scenarios_) {
      if (command->parsed()) return run(c);
    }
    return 0;
  }

 private:
  std::vector<std::pair<CLI::App*, ScenarioRun>> scenarios_;
};

// In the order `jobq-bench --help` lists them. "o" must outlive the runs.
void AddIngest(CLI::App& app, Options& o, ScenarioTable& scenarios);
void AddE2e(CLI::App& app, Options& o, ScenarioTable& scenarios);
void AddLatency(CLI::App& app, Options& o, ScenarioTable& scenarios);
void AddFanout(CLI::App& app, Options& o, ScenarioTable& scenarios);
void AddMemory(CLI::App& app, Options& o, ScenarioTable& scenarios);
void AddWatchers(CLI::App& app, Options& o, ScenarioTable& scenarios);
void AddListLoad(CLI::App& app, Options& o, ScenarioTable& scenarios);

}  // namespace jobq::bench
