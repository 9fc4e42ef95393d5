// Fuzz target: the YAML that jobqd reads at start (--config) and on SIGHUP
// (--auth-tokens). Any text must give a config or an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "auth/tokens.h"
#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  jobq::config::ServerConfig config;
  if (jobq::config::ParseConfigYaml(text, &config).ok()) {
    (void)jobq::config::ValidateConfig(config);
  }
  auto tokens = jobq::auth::TokenTable::Parse(text);
  if (tokens.ok()) {
    (void)(*tokens)->Find("a token");
    for (const auto& t : (*tokens)->tokens()) (void)t.MayUseQueue("billing.eu");
  }
  return 0;
}
