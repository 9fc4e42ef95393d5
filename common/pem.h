#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"

namespace jobq {

// The text of the PEM file at `path`; INVALID_ARGUMENT naming `flag` when
// it cannot be read or holds no PEM block.
inline absl::StatusOr<std::string> ReadPemFile(const std::string& flag,
                                               const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(flag + ": cannot read a PEM file at " +
                                      path);
  }
  return text.str();
}

}  // namespace jobq
