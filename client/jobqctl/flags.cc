#include "client/jobqctl/flags.h"

#include <cstdlib>

#include "client/connect_flags.h"

namespace jobq::ctl {

void AddGlobalFlags(CLI::App& app, GlobalFlags* flags) {
  const char* env_addr = std::getenv("JOBQ_ADDR");
  flags->addr = env_addr != nullptr ? env_addr : "127.0.0.1:7070";
  app.add_option("--addr", flags->addr,
                 "jobqd address, or the addresses of a cluster "
                 "comma-separated: the leader is followed (env JOBQ_ADDR)")
      ->capture_default_str();
  app.add_flag("--json", flags->json, "JSON output for scripts");
  app.add_option("--timeout-ms", flags->timeout_ms, "deadline of each call")
      ->capture_default_str();
  client::AddConnectFlags(app, &flags->tls, &flags->token_file);
}

absl::StatusOr<client::Client*> Connection::client() {
  if (!tried_) {
    tried_ = true;
    absl::StatusOr<std::string> token = client::ResolveToken(flags_.token_file);
    if (!token.ok()) {
      error_ = token.status();
    } else if (auto cluster =
                   client::MakeCluster(flags_.addr, flags_.tls, *token);
               !cluster.ok()) {
      error_ = cluster.status();
    } else {
      client::ClientOptions options;
      options.timeout_ms = flags_.timeout_ms;
      client_ = std::make_unique<client::Client>(*cluster, options);
    }
  }
  if (!error_.ok()) return error_;
  return client_.get();
}

}  // namespace jobq::ctl
