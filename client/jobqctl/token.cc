// The token verbs: they make tokens and the entries of jobqd's tokens
// file, and call no jobqd.
#include <openssl/rand.h>

#include <cctype>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "client/jobqctl/output.h"
#include "client/jobqctl/verbs.h"
#include "common/sha256.h"

namespace jobq::ctl {
namespace {

struct NewTokenFlags {
  std::string name;
  std::vector<std::string> roles, queues;
};

// token new: a random token on stdout, and its entry for the tokens file.
int NewToken(const NewTokenFlags& f) {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return Fail(absl::InternalError("no random bytes from OpenSSL"));
  }
  std::string token =
      "jq_" + absl::WebSafeBase64Escape(absl::string_view(
                  reinterpret_cast<const char*>(bytes), sizeof bytes));
  std::printf("%s\n", token.c_str());
  std::fprintf(stderr,
               "# Give the line above to the client (--token-file or "
               "JOBQ_TOKEN); it is not stored anywhere.\n"
               "# Add this to jobqd's tokens file, then send jobqd SIGHUP:\n");
  std::printf("  - name: %s\n    sha256: %s\n    roles: [%s]\n", f.name.c_str(),
              Sha256Hex(token).c_str(), absl::StrJoin(f.roles, ", ").c_str());
  if (!f.queues.empty()) {
    std::vector<std::string> quoted;
    for (const std::string& q : f.queues) quoted.push_back("\"" + q + "\"");
    std::printf("    queues: [%s]\n", absl::StrJoin(quoted, ", ").c_str());
  }
  return 0;
}

// token hash: the SHA-256 of the token on stdin's first line.
int HashToken() {
  std::string line;
  std::getline(std::cin, line);
  while (!line.empty() &&
         std::isspace(static_cast<unsigned char>(line.back()))) {
    line.pop_back();
  }
  if (line.empty()) return Usage("token hash: no token on stdin");
  std::printf("%s\n", Sha256Hex(line).c_str());
  return 0;
}

}  // namespace

void AddTokenVerbs(CLI::App& app, VerbTable& verbs) {
  auto* token = app.add_subcommand(
      "token", "make tokens for jobqd's tokens file (no call to jobqd)");
  token->require_subcommand(1);
  auto* new_cmd = token->add_subcommand(
      "new", "print a new random token, then its entry for the tokens file");
  auto f = std::make_shared<NewTokenFlags>();
  new_cmd->add_option("name", f->name, "who the token is for")->required();
  new_cmd->add_option("--role,-r", f->roles, "submit, read, admin, worker")
      ->required()
      ->check(CLI::IsMember({"submit", "read", "admin", "worker"}));
  new_cmd->add_option("--queue,-q", f->queues,
                      "queue or pattern (e.g. 'billing.*'); default: all");
  auto* hash = token->add_subcommand(
      "hash", "print the SHA-256 of the token read from stdin");
  verbs.Add(new_cmd, [f](Connection&) { return NewToken(*f); });
  verbs.Add(hash, [](Connection&) { return HashToken(); });
}

}  // namespace jobq::ctl
