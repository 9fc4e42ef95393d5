#pragma once

#include <libpq-fe.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace jobq::store {

// A query's result, freed with it.
struct PgResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultFree>;

// One libpq connection, used blocking: the calls wait for the server.
// Errors come back as a Status whose message names what failed and the
// server's words; connection failures are UNAVAILABLE (and leave the
// connection broken(), to be opened again), a full disk on the server is
// RESOURCE_EXHAUSTED, any other SQL error INTERNAL. A query's error in
// a transaction leaves the transaction aborted: the caller rolls back.
//
// Thread: one at a time (libpq connections are not shared).
class PgConn {
 public:
  // `conninfo` is a libpq keyword string or URI; its own settings win over
  // the defaults given here (connect_timeout 5 s, application_name jobqd).
  static absl::StatusOr<std::unique_ptr<PgConn>> Connect(
      const std::string& conninfo);
  ~PgConn();

  // A command or query with no parameters (several statements may be
  // given: the last one's result comes back).
  absl::StatusOr<PgResult> Exec(const std::string& sql);
  // A query with text parameters; `binary_result` asks for binary columns.
  absl::StatusOr<PgResult> ExecParams(const std::string& sql,
                                      const std::vector<std::string>& params,
                                      bool binary_result = false);
  // Sends `sql`, several statements of which at most one is a COPY ...
  // FROM STDIN, as one query: one round trip to the COPY, one after it
  // (the statements after the COPY run without waiting for the client).
  // `rows` sees each result with rows that comes before the COPY; a
  // non-OK status from it fails the COPY, and the server skips the rest
  // of `sql`. `data` is the COPY's whole input. `*data_sent` becomes true
  // once the COPY's input went out: from then on a connection lost before
  // the answer leaves the outcome of the statements after it unknown.
  // The first failure comes back; a transaction `sql` began is then left
  // aborted (or ended, if its COMMIT failed).
  absl::Status Script(const std::string& sql, const std::string& data,
                      const std::function<absl::Status(const PGresult&)>& rows,
                      bool* data_sent);
  // Sends `sql` and calls `row` for each row as it arrives (single-row
  // mode), so a large result never sits in memory whole. `row` returns
  // a non-OK status to stop; the rest of the rows are then drained.
  absl::Status Stream(const std::string& sql,
                      const std::function<absl::Status(const PGresult&)>& row);

  // The connection was lost: open a new one.
  bool broken() const;
  PGconn* raw() { return conn_; }

 private:
  explicit PgConn(PGconn* conn) : conn_(conn) {}
  absl::StatusOr<PgResult> Check(PGresult* r, const std::string& what);
  absl::Status Failure(const PGresult* r, const std::string& what);

  PGconn* conn_;
};

// `name` in double quotes, with any quote inside doubled.
std::string QuoteIdent(const std::string& name);

// The application_name of the sessions with which the leader of `schema`
// under `epoch` writes its log and renews its lease (at most 63 bytes, as
// the server keeps it). A node taking the leadership over from `epoch` ends
// those sessions (pg_terminate_backend), so an old leader that hung inside
// a transaction cannot hold the leader row and stall the takeover.
std::string LeaderSessionName(const std::string& schema, int64_t epoch);

// A bigint of a binary result column (network byte order).
int64_t PgInt8(const PGresult& r, int row, int column);

}  // namespace jobq::store
