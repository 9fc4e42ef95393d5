#include "exec/spawn.h"

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace jobq::exec {

absl::Status ResolveRunAs(const std::string& user, const std::string& group,
                          SpawnOptions* options) {
  if (geteuid() != 0) return absl::OkStatus();
  std::vector<char> buf(16384);
  passwd pw;
  passwd* found = nullptr;
  getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("command_user: no user \"", user,
                     "\"; jobqd runs as root and runs commands as this user"));
  }
  if (pw.pw_uid == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("command_user: \"", user,
                     "\" is root; commands run as an unprivileged user"));
  }
  options->uid = pw.pw_uid;
  options->gid = pw.pw_gid;
  if (!group.empty()) {
    struct group gr;
    struct group* g = nullptr;
    getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &g);
    if (g == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("command_group: no group \"", group, "\""));
    }
    if (gr.gr_gid == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "command_group: \"", group,
          "\" is root's group; commands run as an unprivileged group"));
    }
    options->gid = gr.gr_gid;
  }
  return absl::OkStatus();
}

std::vector<std::string> LimitedArgv(const std::string& limiter,
                                     const config::CommandLimits& limits,
                                     const std::vector<std::string>& argv) {
  std::vector<std::string> out = {limiter,
                                  kLimiterFlag,
                                  absl::StrCat(limits.cpu / kSecond),
                                  absl::StrCat(limits.address_space),
                                  absl::StrCat(limits.open_files),
                                  "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

int RunWithLimits(int argc, char** argv) {
  // jobqd --exec-with-limits CPU AS FILES -- program args...
  uint64_t cpu = 0, as = 0, files = 0;
  if (argc < 7 || std::strcmp(argv[1], kLimiterFlag) != 0 ||
      !absl::SimpleAtoi(argv[2], &cpu) || !absl::SimpleAtoi(argv[3], &as) ||
      !absl::SimpleAtoi(argv[4], &files) || std::strcmp(argv[5], "--") != 0) {
    std::fprintf(stderr,
                 "jobqd %s: expected CPU_SECONDS AS_BYTES OPEN_FILES -- "
                 "PROGRAM [ARGS...]\n",
                 kLimiterFlag);
    return 126;
  }
  struct Limit {
    int resource;
    uint64_t value;
    const char* name;
  };
  // CPU: SIGXCPU at the limit, and SIGKILL a second later should the
  // program catch it.
  const Limit limits[] = {{RLIMIT_CPU, cpu, "cpu"},
                          {RLIMIT_AS, as, "address_space"},
                          {RLIMIT_NOFILE, files, "open_files"}};
  for (const Limit& l : limits) {
    if (l.value == 0) continue;
    rlimit r;
    getrlimit(l.resource, &r);
    rlim_t soft = static_cast<rlim_t>(l.value);
    rlim_t hard = l.resource == RLIMIT_CPU ? soft + 1 : soft;
    // Never above what jobqd itself may have.
    if (r.rlim_max != RLIM_INFINITY) {
      soft = std::min(soft, r.rlim_max);
      hard = std::min(hard, r.rlim_max);
    }
    r.rlim_cur = soft;
    r.rlim_max = hard;
    if (setrlimit(l.resource, &r) != 0) {
      std::fprintf(stderr, "jobqd: cannot set the %s limit: %s\n", l.name,
                   std::strerror(errno));
      return 126;
    }
  }
  execv(argv[6], argv + 6);
  std::fprintf(stderr, "jobqd: cannot run %s: %s\n", argv[6],
               std::strerror(errno));
  return 127;
}

void ApplyDefaultLimits(
    const config::CommandLimits& defaults,
    std::map<std::string, config::CommandConfig>* commands) {
  for (auto& [name, cmd] : *commands) {
    if (cmd.limits.cpu == 0) cmd.limits.cpu = defaults.cpu;
    if (cmd.limits.address_space == 0) {
      cmd.limits.address_space = defaults.address_space;
    }
    if (cmd.limits.open_files == 0) cmd.limits.open_files = defaults.open_files;
  }
}

}  // namespace jobq::exec
