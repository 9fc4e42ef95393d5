#pragma once

#include <string>

namespace jobq::testing {

// A throwaway PostgreSQL 15 cluster for one test binary: initdb into a
// temporary directory, started with no TCP port and a private Unix socket
// directory (as the postgres user when running as root, since initdb
// refuses root), and stopped when the binary ends (a gtest Environment,
// or, if the binary is killed, a reaper process watching it).
// It starts on first use, so a binary whose selected tests need none
// starts none. Each test takes a schema of its own (SchemaForTest).
//
// Thread: the test's main thread.
class PgCluster {
 public:
  // The cluster of this process, started if needed; null (with a test
  // failure) if it cannot be.
  static PgCluster* Get();

  // A libpq connection string for the cluster's postgres database.
  const std::string& conninfo() const { return conninfo_; }
  // Stops the server (pg_ctl stop -m fast: connections are cut) and
  // starts it again (waiting until it accepts connections).
  bool Stop();
  bool Start();
  // Runs `sql` with psql; its output (unaligned, tuples only).
  std::string Psql(const std::string& sql) const;

  // Called by the Environment when the binary ends.
  void Shutdown();

 private:
  PgCluster() = default;
  bool Init();
  // The command line running a PostgreSQL program as the cluster's owner.
  std::string AsOwner(const std::string& command) const;
  // Runs a PostgreSQL program as the cluster's owner; true on exit 0.
  bool RunAsOwner(const std::string& command) const;
  // pg_ctl's stop without waiting for sessions (Shutdown, the reaper).
  std::string StopNow() const;
  // Starts a process that stops the server and removes its directory once
  // this process has ended, should it end without Shutdown.
  void SpawnReaper();

  std::string base_;  // The temporary directory holding everything.
  std::string data_;
  std::string socket_dir_;
  std::string conninfo_;
  bool as_postgres_ = false;
};

// A schema name unique to the running test (its name, sanitized).
std::string SchemaForTest();

}  // namespace jobq::testing
