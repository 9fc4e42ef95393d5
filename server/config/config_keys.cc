#include "config/config_keys.h"

#include <cctype>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "config/command_kinds.h"
#include "config/queue_config.h"
#include "config/yaml_values.h"

namespace jobq::config {
namespace {

using C = ServerConfig;

// To add a key: a field in ServerConfig (config.h) and a row here.
const ConfigKey kKeys[] = {
    {.name = "listen",
     .field = &C::listen,
     .default_value = "127.0.0.1:7070",
     .default_shown = nullptr,
     .help = "gRPC address (`:0` picks a free port; the start-up line names "
             "it)"},
    {.name = "http_listen",
     .field = &C::http_listen,
     .default_value = "127.0.0.1:7071",
     .default_shown = nullptr,
     .help = "HTTP address of `/metrics`, `/healthz`, `/readyz` and the web "
             "dashboard (`/`); empty: off"},
    {.name = "workers",
     .field = &C::workers,
     .default_value = "0",
     .default_shown = "one per core",
     .help = "worker event loops",
     .min = 0,
     .max = 256},
    {.name = "log_level",
     .field = &C::log_level,
     .default_value = "info",
     .default_shown = nullptr,
     .help = "`trace`, `debug`, `info`, `warn`, `error`"},
    {.name = "log_format",
     .field = &C::log_format,
     .default_value = "text",
     .default_shown = nullptr,
     .help = "`text` or `json` (one object per line)"},
    {.name = "max_payload",
     .field = &C::max_payload,
     .default_value = "1MiB",
     .default_shown = nullptr,
     .help = "largest job payload"},
    {.name = "retention",
     .field = &C::retention,
     .default_value = "1h",
     .default_shown = nullptr,
     .help = "how long finished jobs are kept"},
    {.name = "max_finished",
     .field = &C::max_finished,
     .default_value = "100000",
     .default_shown = nullptr,
     .help = "most finished jobs kept"},
    {.name = "dead_retention",
     .field = &C::dead_retention,
     .default_value = "168h",
     .default_shown = "7 days",
     .help = "how long DEAD jobs are kept (until retried or deleted)"},
    {.name = "max_dead",
     .field = &C::max_dead,
     .default_value = "1000000",
     .default_shown = nullptr,
     .help = "most DEAD jobs kept; past it the oldest are dropped "
             "(`jobq_dead_dropped_total`)"},
    {.name = "idempotency_window",
     .field = &C::idempotency_window,
     .default_value = "24h",
     .default_shown = nullptr,
     .help = "how long an idempotency key makes a resubmit a duplicate, "
             "whether or not its job is still kept"},
    {.name = "shutdown_grace",
     .field = &C::shutdown_grace,
     .default_value = "30s",
     .default_shown = nullptr,
     .help = "on SIGTERM/SIGINT, time running jobs get to finish"},
    {.name = "lease",
     .field = &C::lease,
     .default_value = "30s",
     .default_shown = nullptr,
     .help = "how long a remote worker holds a job without a word from it "
             "(at least 1s)",
     .min = kSecond},
    {.name = "stream_buffer",
     .field = &C::stream_buffer,
     .default_value = "10000",
     .default_shown = nullptr,
     .help = "events queued for one stream before it is cut off"},
    {.name = "max_stream_memory",
     .field = &C::max_stream_memory,
     .default_value = "256MiB",
     .default_shown = nullptr,
     .help = "bytes all event streams may buffer together; past it the "
             "streams with the most unsent bytes are cut off"},
    {.name = "max_running",
     .field = &C::max_running,
     .default_value = "100000",
     .default_shown = nullptr,
     .help = "jobs running at once on the built-in handlers"},
    {.name = "max_queued",
     .field = &C::max_queued,
     .default_value = "0",
     .default_shown = "0: none",
     .help = "unfinished jobs a queue accepts at most, unless it has its own "
             "limit (`jobqctl limit QUEUE --max-queued M`); past it a submit "
             "gets `RESOURCE_EXHAUSTED`"},
    {.name = "data_dir",
     .field = &C::data_dir,
     .default_value = "",
     .default_shown = "none",
     .help = "the write-ahead log's directory; none keeps jobs in memory "
             "only"},
    {.name = "postgres",
     .field = &C::postgres,
     .default_value = "",
     .default_shown = "none",
     .help = "keep the log in PostgreSQL instead of `--data-dir`: a libpq "
             "connection string or URI (docs/postgresql.md)"},
    {.name = "postgres_schema",
     .field = &C::postgres_schema,
     .default_value = "jobq",
     .default_shown = nullptr,
     .help = "the schema of jobq's tables in that database, created if "
             "missing (lowercase letters, digits, `_`)"},
    {.name = "leader_lease",
     .field = &C::leader_lease,
     .default_value = "2s",
     .default_shown = nullptr,
     .help = "with `--postgres`: a leader silent this long (hung, or cut off "
             "from the database) is replaced by a standby; a leader that "
             "dies is replaced at once (at least 1s)",
     .min = kSecond},
    {.name = "advertise_address",
     .field = &C::advertise_address,
     .default_value = "",
     .default_shown = "the listen address",
     .help = "host:port where clients reach this jobqd; standbys name the "
             "leader's to clients"},
    {.name = "sync",
     .field = &C::sync,
     .default_value = "fsync",
     .default_shown = nullptr,
     .help = "`fsync`: acknowledge after fdatasync; `none`: after write(2) "
             "(survives a jobqd crash, not a power cut)"},
    {.name = "recover",
     .field = &C::recover,
     .default_value = "strict",
     .default_shown = nullptr,
     .help = "`strict`: anything wrong in the log but a torn tail of the "
             "newest segment stops the start, naming file and offset; "
             "`skip-corrupt`: skip only the damaged records, resuming at the "
             "next good one, and log what was dropped"},
    {.name = "compact_min_bytes",
     .field = &C::compact_min_bytes,
     .default_value = "64MiB",
     .default_shown = nullptr,
     .help = "the log is compacted once larger than this and than twice its "
             "live jobs",
     .flag = "compact-min"},
    {.name = "tls_cert",
     .field = &C::tls_cert,
     .default_value = "",
     .default_shown = "none",
     .help = "PEM certificate chain: serve gRPC over TLS, and HTTP over "
             "HTTPS"},
    {.name = "tls_key",
     .field = &C::tls_key,
     .default_value = "",
     .default_shown = "none",
     .help = "PEM private key of `--tls-cert`"},
    {.name = "tls_client_ca",
     .field = &C::tls_client_ca,
     .default_value = "",
     .default_shown = "none",
     .help = "PEM CA: require client certificates it signed (mutual TLS)"},
    {.name = "auth_tokens",
     .field = &C::auth_tokens,
     .default_value = "",
     .default_shown = "none",
     .help = "YAML file of token hashes with roles and queue patterns: every "
             "call but health needs `authorization: Bearer <token>`; reloaded "
             "on SIGHUP"},
    {.name = "insecure",
     .field = &C::insecure,
     .default_value = "false",
     .default_shown = nullptr,
     .help = "serve a non-loopback `--listen` without TLS and tokens (refused "
             "otherwise); warned of"},
    {.name = "metrics_public",
     .field = &C::metrics_public,
     .default_value = "false",
     .default_shown = nullptr,
     .help = "with `--auth-tokens`, serve `/metrics` without a token (it "
             "needs one with the `read` role otherwise); warned of"},
    {.name = "submit_rate",
     .field = &C::submit_rate,
     .default_value = "0",
     .default_shown = "0: no limit",
     .help = "jobs/s each token (without tokens: all callers together) may "
             "submit; the tokens file can set a token's own"},
    {.name = "submit_burst",
     .field = &C::submit_burst,
     .default_value = "0",
     .default_shown = "0: the rate",
     .help = "jobs a token may submit at once above `--submit-rate`"},
    {.name = "max_connections",
     .field = &C::max_connections,
     .default_value = "10000",
     .default_shown = nullptr,
     .help = "client connections open at once; past it a new one is closed "
             "at once; 0: no limit"},
    {.name = "max_streams_per_connection",
     .field = &C::max_streams_per_connection,
     .default_value = "1000",
     .default_shown = nullptr,
     .help = "HTTP/2 streams one connection may have open"},
    {.name = "max_message_size",
     .field = &C::max_message_size,
     .default_value = "64MiB",
     .default_shown = nullptr,
     .help = "largest gRPC message (at least `max_payload` + 64KiB)"},
    {.name = "max_watchers_per_queue",
     .field = &C::max_watchers_per_queue,
     .default_value = "10000",
     .default_shown = nullptr,
     .help = "Watch streams on one queue at once; 0: no limit"},
    {.name = "command_user",
     .field = &C::command_user,
     .default_value = "nobody",
     .default_shown = nullptr,
     .help = "user that commands run as when jobqd runs as root"},
    {.name = "command_group",
     .field = &C::command_group,
     .default_value = "",
     .default_shown = "the user's own",
     .help = "group of `--command-user`"},
    {.name = "command_limits",
     .field = &C::command_limits,
     .default_value = nullptr,
     .default_shown = "none",
     .help = "`cpu`, `address_space`, `open_files` of every command (each "
             "command's `limits` override)",
     .file_only = true},
    {.name = "commands",
     .field = &C::commands,
     .default_value = nullptr,
     .default_shown = "none",
     .help = "command kinds: `argv` (absolute program path first), `env`, "
             "`cwd`, `timeout`, `max_output` (at most 4MiB), `limits`",
     .file_only = true},
    {.name = "queues",
     .field = &C::queues,
     .default_value = nullptr,
     .default_shown = "none",
     .help = "limits per queue, applied at start: `max_concurrency`, "
             "`max_queued`, `rate` (starts a second), `burst`",
     .file_only = true},
};

// Reads one value into its field, by the field's type.
struct FieldReader {
  const ConfigKey& key;
  const YAML::Node& value;
  ServerConfig* config;

  absl::Status operator()(std::string C::*f) const {
    return ReadString(value, key.name, &(config->*f));
  }
  absl::Status operator()(int C::*f) const {
    return ReadInt(value, key.name, static_cast<int>(key.min),
                   static_cast<int>(key.max), &(config->*f));
  }
  absl::Status operator()(size_t C::*f) const {
    return ReadSize(value, key.name, &(config->*f));
  }
  absl::Status operator()(DurationUs C::*f) const {
    absl::Status s = ReadDuration(value, key.name, &(config->*f));
    if (s.ok() && config->*f < key.min) {
      // Only lease has a least value today: whole seconds.
      return Bad(key.name,
                 absl::StrCat("must be at least ", key.min / kSecond, "s"));
    }
    return s;
  }
  absl::Status operator()(bool C::*f) const {
    return ReadBool(value, key.name, &(config->*f));
  }
  absl::Status operator()(double C::*f) const {
    return ReadRate(value, key.name, &(config->*f));
  }
  absl::Status operator()(CommandLimits C::*f) const {
    return ReadCommandLimits(value, key.name, &(config->*f));
  }
  absl::Status operator()(std::map<std::string, CommandConfig> C::*f) const {
    return ReadCommands(value, key.name, &(config->*f));
  }
  absl::Status operator()(std::map<std::string, QueueConfig> C::*f) const {
    return ReadQueues(value, key.name, &(config->*f));
  }
};

}  // namespace

absl::Span<const ConfigKey> ConfigKeys() { return kKeys; }

const ConfigKey* FindConfigKey(absl::string_view name) {
  for (const ConfigKey& key : kKeys) {
    if (name == key.name) return &key;
  }
  return nullptr;
}

std::string FlagName(const ConfigKey& key) {
  if (key.file_only) return "";
  std::string name = std::string("--") + (key.flag ? key.flag : key.name);
  for (char& ch : name) {
    if (ch == '_') ch = '-';
  }
  return name;
}

std::string EnvNameOfFlag(absl::string_view flag) {
  std::string env = "JOBQ_";
  for (char ch : flag.substr(2)) {
    env += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
  }
  return env;
}

std::string EnvName(const ConfigKey& key) {
  if (key.file_only) return "";
  return EnvNameOfFlag(FlagName(key));
}

std::string ShownDefault(const ConfigKey& key) {
  if (key.default_shown) return key.default_shown;
  return key.default_value ? key.default_value : "";
}

absl::Status SetConfigKey(const ConfigKey& key, const YAML::Node& value,
                          ServerConfig* config) {
  return std::visit(FieldReader{key, value, config}, key.field);
}

std::string ConfigReferenceMarkdown() {
  auto code = [](const std::string& text) {
    return text.empty() ? text : "`" + text + "`";
  };
  std::string out =
      "| flag | variable | YAML key | default | meaning |\n"
      "|---|---|---|---|---|\n";
  absl::StrAppend(&out, "| ", code(kConfigFileFlag), " | ",
                  code(EnvNameOfFlag(kConfigFileFlag)),
                  " | | | YAML file of the keys below |\n");
  for (const ConfigKey& key : kKeys) {
    std::string shown =
        key.default_shown ? key.default_shown : code(ShownDefault(key));
    absl::StrAppend(&out, "| ", code(FlagName(key)), " | ", code(EnvName(key)),
                    " | ", code(key.name), " | ", shown, " | ", key.help,
                    " |\n");
  }
  return out;
}

}  // namespace jobq::config
