#pragma once

#include <openssl/evp.h>

#include <array>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"

namespace jobq {

// SHA-256 (OpenSSL's), and as 64 lower-case hex digits: the hash of a
// bearer token, as the tokens file holds it.
inline std::array<unsigned char, 32> Sha256(absl::string_view data) {
  std::array<unsigned char, 32> out{};
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &size, EVP_sha256(),
             nullptr);
  return out;
}

inline std::string Sha256Hex(absl::string_view data) {
  auto digest = Sha256(data);
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest.data()), digest.size()));
}

}  // namespace jobq
