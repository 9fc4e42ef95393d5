#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace jobq {

// Splits "host:port" or "[v6 host]:port" (port 0 to 65535) into the host,
// without brackets, and the port. INVALID_ARGUMENT naming `flag` otherwise.
inline absl::Status SplitHostPort(const std::string& address,
                                  const std::string& flag, std::string* host,
                                  int* port) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), port) || *port < 0 ||
      *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", address, "\" is not host:port"));
  }
  *host = address.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::OkStatus();
}

// "host:port" of a configured listen address with the port it was bound
// to (which differs when the configured port is 0).
inline std::string WithPort(const std::string& configured, int port) {
  return absl::StrCat(configured.substr(0, configured.rfind(':') + 1), port);
}

}  // namespace jobq
