#include "tests/testing/pg_cluster.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <spawn.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>

namespace jobq::testing {
namespace {

constexpr char kBin[] = "/usr/lib/postgresql/15/bin/";

PgCluster* g_cluster = nullptr;

class PgEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (g_cluster != nullptr) g_cluster->Shutdown();
  }
};

[[maybe_unused]] const ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new PgEnvironment);

std::string Output(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
    out.append(buf.data(), n);
  pclose(p);
  return out;
}

}  // namespace

PgCluster* PgCluster::Get() {
  if (g_cluster != nullptr) return g_cluster;
  std::unique_ptr<PgCluster> c(new PgCluster());
  if (!c->Init()) {
    ADD_FAILURE() << "cannot start a PostgreSQL 15 cluster (the postgresql "
                     "package, scripts/test-deps.txt); see "
                  << c->base_ << "/server.log";
    return nullptr;
  }
  g_cluster = c.release();
  return g_cluster;
}

std::string PgCluster::AsOwner(const std::string& command) const {
  return (as_postgres_ ? "runuser -u postgres -- " : "") + std::string(kBin) +
         command;
}

bool PgCluster::RunAsOwner(const std::string& command) const {
  std::string line = AsOwner(command) + " >>" + base_ + "/commands.log 2>&1";
  return std::system(line.c_str()) == 0;
}

std::string PgCluster::StopNow() const {
  return "pg_ctl -w -D " + data_ + " -m immediate stop";
}

bool PgCluster::Init() {
  std::string tmpl = ::testing::TempDir() + "/jobq_pg_XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return false;
  base_ = tmpl;
  data_ = base_ + "/data";
  socket_dir_ = base_ + "/sock";
  std::filesystem::create_directory(socket_dir_);
  as_postgres_ = geteuid() == 0;
  if (as_postgres_) {
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) return false;
    for (const auto& d : {base_, socket_dir_}) {
      if (chown(d.c_str(), pw->pw_uid, pw->pw_gid) != 0) return false;
    }
  }
  if (!RunAsOwner("initdb -A trust --no-sync -U postgres -D " + data_)) {
    return false;
  }
  conninfo_ = "host=" + socket_dir_ + " dbname=postgres user=postgres";
  SpawnReaper();
  return Start();
}

void PgCluster::SpawnReaper() {
  // A shell that waits for the end of a pipe whose only writer is this
  // process (close-on-exec: no child inherits it). When the process ends,
  // whichever way, even killed by a test runner's timeout, the read ends
  // and the shell stops the server and removes the directory. After a
  // normal Shutdown both find nothing left to do.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  std::string script = "read _ || true; " + AsOwner(StopNow()) +
                       " >/dev/null 2>&1; rm -rf " + base_;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
  const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
  pid_t pid;
  posix_spawn(&pid, "/bin/sh", &actions, nullptr,
              const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[0]);
  // fds[1] is never closed: the process's end closes it.
}

bool PgCluster::Start() {
  return RunAsOwner("pg_ctl -w -D " + data_ + " -l " + base_ +
                    "/server.log -o \"-c listen_addresses='' -k " +
                    socket_dir_ + "\" start");
}

bool PgCluster::Stop() {
  return RunAsOwner("pg_ctl -w -D " + data_ + " -m fast stop");
}

std::string PgCluster::Psql(const std::string& sql) const {
  return Output(std::string(kBin) + "psql -X -A -t -q -d '" + conninfo_ +
                "' -c \"" + sql + "\" 2>&1");
}

void PgCluster::Shutdown() {
  RunAsOwner(StopNow());
  std::error_code ec;
  std::filesystem::remove_all(base_, ec);
}

std::string SchemaForTest() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = "t_";
  name += info != nullptr
              ? std::string(info->test_suite_name()) + "_" + info->name()
              : "none";
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) c = '_';
  }
  static int counter = 0;
  name = name.substr(0, 55) + "_" + std::to_string(++counter);
  return name;
}

}  // namespace jobq::testing
