#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/client.h"

namespace jobq::ctl {

// The flags every verb of jobqctl shares. They may come before or after
// the verb (`jobqctl queues --json`).
struct GlobalFlags {
  std::string addr;
  client::TlsOptions tls;
  std::string token_file;
  bool json = false;
  int64_t timeout_ms = 30'000;
};

// Adds --addr (default $JOBQ_ADDR, else 127.0.0.1:7070; a comma-separated
// list names the nodes of a cluster), --json,
// --timeout-ms and the TLS and token flags to `app`. "*flags" must remain
// live while `app` parses.
void AddGlobalFlags(CLI::App& app, GlobalFlags* flags);

// The client of the jobqd that the global flags name, made on first use:
// a verb that needs no server (token) never reads a token or TLS file, and
// a verb decides whether its own usage errors come before them.
// Thread: jobqctl's main thread only. "flags" must outlive the Connection.
class Connection {
 public:
  explicit Connection(const GlobalFlags& flags) : flags_(flags) {}

  bool json() const { return flags_.json; }
  // The client, or why it cannot be made (an unreadable token or TLS
  // file); the same answer on every call.
  absl::StatusOr<client::Client*> client();

 private:
  const GlobalFlags& flags_;
  bool tried_ = false;
  absl::Status error_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace jobq::ctl
