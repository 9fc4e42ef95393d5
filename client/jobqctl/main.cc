// jobqctl: the admin and scripting CLI of jobq. The verbs live in their
// groups (verbs.h); this file parses the command line and runs the one
// given.
#include <CLI/CLI.hpp>

#include "client/jobqctl/flags.h"
#include "client/jobqctl/verbs.h"

int main(int argc, char** argv) {
  CLI::App app{"jobqctl: submit, watch and administer jobq"};
  app.require_subcommand(1);
  // Global flags may also follow the verb (`jobqctl queues --json`): a flag
  // a subcommand does not know falls through to the app. Set before the
  // subcommands are added, which inherit it.
  app.fallthrough();
  jobq::ctl::GlobalFlags flags;
  jobq::ctl::AddGlobalFlags(app, &flags);
  jobq::ctl::VerbTable verbs;
  jobq::ctl::AddJobVerbs(app, verbs);
  jobq::ctl::AddLifecycleVerbs(app, verbs);
  jobq::ctl::AddHealthVerb(app, verbs);
  jobq::ctl::AddAdminVerbs(app, verbs);
  jobq::ctl::AddScheduleVerbs(app, verbs);
  jobq::ctl::AddTokenVerbs(app, verbs);
  // Every usage error exits 2, CLI11's own included (it would exit with
  // its error's number); --help exits 0.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  jobq::ctl::Connection connection(flags);
  return verbs.RunParsed(connection);
}
