#include "config/command_line.h"

#include <CLI/CLI.hpp>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "config/config_keys.h"
#include "version.h"

namespace jobq::config {
namespace {

// The text a key's flag or variable gave; CLI11 writes it here.
struct KeyOption {
  const ConfigKey* key = nullptr;
  CLI::Option* option = nullptr;
  std::string text;
  bool on = false;  // For a bool key: a flag with no value.
};

std::string HelpOf(const ConfigKey& key) {
  std::string help = absl::StrReplaceAll(key.help, {{"`", ""}});
  std::string shown = absl::StrReplaceAll(ShownDefault(key), {{"`", ""}});
  if (!shown.empty()) help += " (default " + shown + ")";
  return help;
}

// What --help calls the value of a key's flag.
struct ValueName {
  const char* operator()(std::string ServerConfig::*) { return "TEXT"; }
  const char* operator()(int ServerConfig::*) { return "INT"; }
  const char* operator()(size_t ServerConfig::*) { return "SIZE"; }
  const char* operator()(DurationUs ServerConfig::*) { return "DURATION"; }
  const char* operator()(double ServerConfig::*) { return "NUMBER"; }
  const char* operator()(auto) { return ""; }  // Bools and file-only keys.
};

// The CLI11 app with every option bound to this object's fields.
class JobqdCommandLine {
 public:
  JobqdCommandLine() : app_("jobqd: the jobq job-queue server") {
    app_.set_version_flag("--version", std::string(kVersion));
    app_.add_option(kConfigFileFlag, config_path_, "YAML configuration file")
        ->envname(EnvNameOfFlag(kConfigFileFlag));
    app_.add_flag("--print-config-reference", print_reference_,
                  "print every flag, variable and YAML key as a Markdown "
                  "table, and exit");
    std::string file_only;
    for (const ConfigKey& key : ConfigKeys()) {
      if (key.file_only) {
        absl::StrAppend(&file_only, file_only.empty() ? "" : ", ", key.name);
        continue;
      }
      KeyOption& k = keys_.emplace_back();  // A deque: k stays where it is.
      k.key = &key;
      if (std::holds_alternative<bool ServerConfig::*>(key.field)) {
        k.option = app_.add_flag(FlagName(key), k.on, HelpOf(key));
      } else {
        k.option = app_.add_option(FlagName(key), k.text, HelpOf(key))
                       ->type_name(std::visit(ValueName{}, key.field));
      }
      k.option->envname(EnvName(key));
    }
    app_.footer("Keys only the --config file can hold: " + file_only +
                " (see --print-config-reference).");
  }

  CLI::App& app() { return app_; }
  const std::string& config_path() const { return config_path_; }
  bool print_reference() const { return print_reference_; }

  // The keys given by a flag or a variable, as ApplyFlags takes them.
  std::vector<std::pair<std::string, std::string>> Given() const {
    std::vector<std::pair<std::string, std::string>> given;
    for (const KeyOption& k : keys_) {
      if (k.option->count() == 0) continue;
      bool is_bool = std::holds_alternative<bool ServerConfig::*>(k.key->field);
      given.emplace_back(k.key->name,
                         is_bool ? (k.on ? "true" : "false") : k.text);
    }
    return given;
  }

 private:
  CLI::App app_;
  std::string config_path_;
  bool print_reference_ = false;
  std::deque<KeyOption> keys_;
};

CommandLineOutcome Exit(int code) {
  CommandLineOutcome outcome;
  outcome.exit_code = code;
  return outcome;
}

CommandLineOutcome Stop(std::ostream& err, absl::string_view message) {
  err << "jobqd: " << message << "\n";
  return Exit(2);
}

}  // namespace

CommandLineOutcome ReadCommandLine(int argc, const char* const* argv,
                                   std::ostream& out, std::ostream& err) {
  JobqdCommandLine line;
  // CLI11 reports usage errors, --help and --version by exception; they
  // stop here.
  try {
    line.app().parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return Exit(line.app().exit(e, out, err));
  }
  if (line.print_reference()) {
    out << ConfigReferenceMarkdown();
    return Exit(0);
  }
  CommandLineOutcome outcome;
  ServerConfig& config = outcome.config;
  if (!line.config_path().empty()) {
    if (auto s = LoadConfigFile(line.config_path(), &config); !s.ok()) {
      return Stop(err, s.message());
    }
  }
  // Flags and variables override the file.
  if (auto s = ApplyFlags(line.Given(), &config); !s.ok()) {
    return Stop(err, s.message());
  }
  if (auto s = ValidateConfig(config); !s.ok()) return Stop(err, s.message());
  return outcome;
}

std::string CommandLineHelp() {
  JobqdCommandLine line;
  return line.app().help();
}

}  // namespace jobq::config
