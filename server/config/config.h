#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"

namespace jobq::config {

// Resource limits of a command's process (setrlimit); 0: inherited.
struct CommandLimits {
  DurationUs cpu = 0;        // RLIMIT_CPU, whole seconds.
  size_t address_space = 0;  // RLIMIT_AS, bytes.
  size_t open_files = 0;     // RLIMIT_NOFILE.
  bool any() const { return cpu > 0 || address_space > 0 || open_files > 0; }
  bool operator==(const CommandLimits&) const = default;
};

// A command kind, as the operator configured it. Clients name the kind; they
// never send a program.
struct CommandConfig {
  std::string name;
  std::vector<std::string> argv;  // argv[0] is the program (a path).
  std::map<std::string, std::string> env;
  std::string cwd;
  DurationUs timeout = 0;  // 0: none, unless the job sets one.
  size_t max_output = 1 << 20;
  // Overrides of the top level's command_limits, key by key.
  CommandLimits limits;
  bool operator==(const CommandConfig&) const = default;
};

inline constexpr size_t kMaxCommandOutput = 4 << 20;

// A queue's limits from the file (`queues`), applied at start as
// SetQueueLimits would: what is set changes, what is absent stays.
struct QueueConfig {
  std::optional<int32_t> max_concurrency;
  std::optional<int64_t> max_queued;
  std::optional<double> rate;
  std::optional<int32_t> burst;
  bool operator==(const QueueConfig&) const = default;
};

// Everything jobqd can be told. Each field is a key of the table in
// config_keys.cc, which holds its default, its flag and its help; a new
// field needs a row there. A ServerConfig starts with the table's defaults.
struct ServerConfig {
  ServerConfig();
  bool operator==(const ServerConfig&) const = default;

  std::string listen;
  // HTTP for /metrics, /healthz and /readyz; empty: none.
  std::string http_listen;
  int workers{};  // 0: one per core.
  size_t max_payload{};
  DurationUs retention{};
  size_t max_finished{};
  // DEAD jobs: their own retention and cap.
  DurationUs dead_retention{};
  size_t max_dead{};
  // How long an idempotency key counts, held job or not.
  DurationUs idempotency_window{};
  DurationUs shutdown_grace{};
  // A remote worker's hold on a job lasts this long from its last message
  // (or the job's timeout, when shorter).
  DurationUs lease{};
  std::string log_level;
  std::string log_format;
  // Events or acks waiting for one slow stream before it is cut off.
  size_t stream_buffer{};
  // The buffers of all event streams together, in bytes; past it the
  // streams with the most unsent bytes are cut off.
  size_t max_stream_memory{};
  // Jobs running at once on the built-in handlers, all queues together.
  size_t max_running{};
  // Unfinished jobs a queue accepts at most, unless it has its own limit
  // (SetQueueLimits); 0: no limit.
  size_t max_queued{};
  // Durable storage: the write-ahead log's directory; empty keeps jobs in
  // memory only.
  std::string data_dir;
  // Durable storage in PostgreSQL instead: a libpq connection string or URI;
  // empty: none. Not with data_dir.
  std::string postgres;
  // The schema of this cluster's tables in that database.
  std::string postgres_schema;
  // With postgres: a leader that has not renewed its lease for this long
  // may be replaced by a standby.
  DurationUs leader_lease{};
  // Where clients reach this jobqd (named by standbys); empty: the listen
  // address with its bound port.
  std::string advertise_address;
  // "fsync": acknowledge after fdatasync; "none": after write(2).
  std::string sync;
  // "strict": a corrupt record stops the start; "skip-corrupt": skip it.
  std::string recover;
  // The log is compacted once larger than this (and than twice the live
  // jobs).
  size_t compact_min_bytes{};
  std::map<std::string, CommandConfig> commands;
  std::map<std::string, QueueConfig> queues;
  // TLS on the gRPC listener: PEM files of the server's certificate chain
  // and key (both, or neither). With a client CA, clients must present a
  // certificate it signed (mutual TLS).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Bearer tokens with roles (a YAML file of hashes); empty: no tokens.
  std::string auth_tokens;
  // Serve a non-loopback address without TLS or tokens.
  bool insecure{};
  // Serve /metrics without a token even when tokens are on (it names every
  // queue); warned of at start.
  bool metrics_public{};
  // Jobs per second each token (or, without tokens, all callers together)
  // may submit, and the burst above it; 0: no limit. The tokens file can
  // set a token's own.
  double submit_rate{};
  double submit_burst{};
  // Client connections open at once; past it a new one is closed at once.
  // 0: no limit (but the process's open-file limit).
  size_t max_connections{};
  // HTTP/2 streams one connection may have open at once.
  size_t max_streams_per_connection{};
  // The largest gRPC message received or sent.
  size_t max_message_size{};
  // Watch streams on one queue at once; 0: no limit.
  size_t max_watchers_per_queue{};
  // When jobqd runs as root, commands run as this user and group (the
  // user's own group when empty), never as root.
  std::string command_user;
  std::string command_group;
  CommandLimits command_limits;
};

// Applies flags given on the command line (or their JOBQ_* variables), as
// YAML key and text value, with the same checks as the file; errors name the
// flag ("--max-payload: ...").
[[nodiscard]] absl::Status ApplyFlags(
    const std::vector<std::pair<std::string, std::string>>& flags,
    ServerConfig* config);

// Checks the settings as a whole; INVALID_ARGUMENT naming the key.
[[nodiscard]] absl::Status ValidateConfig(const ServerConfig& config);

// Reads YAML text into `config`, leaving unset keys alone. Keys are those of
// the table (config_keys.h); unknown keys and bad values are
// INVALID_ARGUMENT naming the key.
[[nodiscard]] absl::Status ParseConfigYaml(const std::string& text,
                                           ServerConfig* config);
[[nodiscard]] absl::Status LoadConfigFile(const std::string& path,
                                          ServerConfig* config);

// Parses "30s", "250ms", "1h30m".
[[nodiscard]] bool ParseDurationText(const std::string& text, DurationUs* out);
// Parses "1048576", "64KiB", "1MiB".
[[nodiscard]] bool ParseSizeText(const std::string& text, size_t* out);

}  // namespace jobq::config
