#include "auth/tokens.h"

#include <fnmatch.h>
#include <openssl/crypto.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace jobq::auth {
namespace {

absl::Status Invalid(const std::string& where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("tokens: ", where, what));
}

// A queue pattern: the characters of a queue name, and * and ? as globs.
bool IsValidPattern(absl::string_view p) {
  if (p.empty() || p.size() > 128) return false;
  for (char c : p) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-' || c == '*' || c == '?';
    if (!ok) return false;
  }
  return true;
}

bool ParseHexDigest(const std::string& hex, Digest* out) {
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  std::string bytes = absl::HexStringToBytes(hex);
  std::copy(bytes.begin(), bytes.end(), out->begin());
  return true;
}

absl::Status ParseRate(const YAML::Node& n, const std::string& where,
                       const char* key, double* out) {
  const YAML::Node v = n[key];
  if (!v) return absl::OkStatus();
  try {
    *out = v.as<double>();
  } catch (const YAML::Exception&) {
    return Invalid(where + key, ": not a number");
  }
  if (!(*out >= 0) || *out > 1e9) {
    return Invalid(where + key, ": must be between 0 and 1e9");
  }
  return absl::OkStatus();
}

absl::Status ParseToken(const YAML::Node& n, const std::string& where,
                        Token* t) {
  if (!n.IsMap()) return Invalid(where, ": each token is a map");
  for (const auto& kv : n) {
    std::string key = kv.first.as<std::string>();
    static const std::set<std::string> kKeys = {
        "name", "sha256", "roles", "queues", "submit_rate", "submit_burst"};
    if (!kKeys.contains(key)) return Invalid(where + key, ": unknown key");
  }
  if (!n["name"] || !n["name"].IsScalar() ||
      n["name"].as<std::string>().empty()) {
    return Invalid(where + "name", ": required");
  }
  t->name = n["name"].as<std::string>();
  if (t->name.size() > 128) return Invalid(where + "name", ": too long");
  if (!n["sha256"] || !n["sha256"].IsScalar() ||
      !ParseHexDigest(n["sha256"].as<std::string>(), &t->sha256)) {
    return Invalid(where + "sha256",
                   ": required, the SHA-256 of the token as 64 hex digits");
  }
  const YAML::Node roles = n["roles"];
  if (!roles || !roles.IsSequence() || roles.size() == 0) {
    return Invalid(where + "roles",
                   ": required, a list of submit, read, admin, worker");
  }
  for (size_t i = 0; i < roles.size(); ++i) {
    std::string r = roles[i].IsScalar() ? roles[i].as<std::string>() : "";
    if (r == "submit") {
      t->roles |= kSubmit;
    } else if (r == "read") {
      t->roles |= kRead;
    } else if (r == "admin") {
      t->roles |= kAdmin;
    } else if (r == "worker") {
      t->roles |= kWorker;
    } else {
      return Invalid(absl::StrCat(where, "roles[", i, "]"),
                     absl::StrCat(": \"", r.substr(0, 40),
                                  "\" is not submit, read, admin or worker"));
    }
  }
  if (const YAML::Node queues = n["queues"]) {
    if (!queues.IsSequence() || queues.size() == 0) {
      return Invalid(where + "queues",
                     ": a list of queue patterns; leave it out for all queues");
    }
    for (size_t i = 0; i < queues.size(); ++i) {
      std::string p = queues[i].IsScalar() ? queues[i].as<std::string>() : "";
      if (!IsValidPattern(p)) {
        return Invalid(
            absl::StrCat(where, "queues[", i, "]"),
            absl::StrCat(": \"", p.substr(0, 40),
                         "\" is not a queue name or pattern ([a-z0-9._-] "
                         "with * and ?)"));
      }
      t->queues.push_back(std::move(p));
    }
  }
  if (absl::Status s = ParseRate(n, where, "submit_rate", &t->submit_rate);
      !s.ok()) {
    return s;
  }
  return ParseRate(n, where, "submit_burst", &t->submit_burst);
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case kSubmit:
      return "submit";
    case kRead:
      return "read";
    case kAdmin:
      return "admin";
    case kWorker:
      return "worker";
  }
  return "?";
}

bool Token::MayUseQueue(absl::string_view queue) const {
  if (queues.empty()) return true;
  std::string name(queue);
  for (const std::string& p : queues) {
    if (fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

std::string Token::QueueList() const { return absl::StrJoin(queues, ", "); }

absl::StatusOr<std::shared_ptr<const TokenTable>> TokenTable::Parse(
    const std::string& yaml) {
  auto table = std::make_shared<TokenTable>();
  try {
    YAML::Node root = YAML::Load(yaml);
    if (!root.IsMap() || !root["tokens"] || !root["tokens"].IsSequence()) {
      return Invalid("", "the file holds a map with a list `tokens`");
    }
    for (const auto& kv : root) {
      if (kv.first.as<std::string>() != "tokens") {
        return Invalid(kv.first.as<std::string>(), ": unknown key");
      }
    }
    const YAML::Node list = root["tokens"];
    std::set<std::string> names;
    std::set<Digest> hashes;
    for (size_t i = 0; i < list.size(); ++i) {
      Token t;
      std::string where = absl::StrCat("tokens[", i, "].");
      if (absl::Status s = ParseToken(list[i], where, &t); !s.ok()) return s;
      if (!names.insert(t.name).second) {
        return Invalid(where + "name",
                       absl::StrCat(": \"", t.name, "\" names two tokens"));
      }
      if (!hashes.insert(t.sha256).second) {
        return Invalid(where + "sha256", ": the same hash as another token");
      }
      table->tokens_.push_back(std::move(t));
    }
  } catch (const YAML::Exception& e) {
    return Invalid("", absl::StrCat(": ", e.what()));
  }
  return std::shared_ptr<const TokenTable>(std::move(table));
}

absl::StatusOr<std::shared_ptr<const TokenTable>> TokenTable::Load(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth-tokens: cannot read ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto table = Parse(text.str());
  if (!table.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth-tokens ", path, ": ", table.status().message()));
  }
  return table;
}

const Token* TokenTable::Find(absl::string_view presented) const {
  Digest digest = Sha256(presented);
  const Token* found = nullptr;
  for (const Token& t : tokens_) {
    // No early exit: every entry costs the same.
    bool same =
        CRYPTO_memcmp(t.sha256.data(), digest.data(), digest.size()) == 0;
    if (same) found = &t;
  }
  return found;
}

}  // namespace jobq::auth
