// Opening the PostgreSQL log: the schema, the leadership and recovery
// (docs/postgresql.md). The writer is in pg_log.cc.
#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "store/pg_log.h"

namespace jobq::store {

absl::Status PgLog::ValidateSchemaName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 63 &&
            (name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z'));
  for (char c : name) {
    ok = ok && (c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", name,
      "\" is not a schema name jobq uses: lowercase letters, digits and _, "
      "starting with a letter or _, at most 63"));
}

absl::StatusOr<std::unique_ptr<PgLog>> PgLog::Open(PgLogOptions options) {
  if (absl::Status s = ValidateSchemaName(options.schema); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--postgres-schema: ", s.message()));
  }
  std::unique_ptr<PgLog> log(new PgLog(std::move(options)));
  if (absl::Status s = log->Reconnect(); !s.ok()) return s;
  if (absl::Status s = log->CreateSchema(); !s.ok()) return s;
  if (absl::Status s = log->TakeLeadership(); !s.ok()) return s;
  return log;
}

absl::Status PgLog::Reconnect() {
  conn_.reset();
  auto conn = PgConn::Connect(options_.conninfo);
  if (!conn.ok()) return conn.status();
  if (!options_.sync) {
    auto r = (*conn)->Exec("SET synchronous_commit = off");
    if (!r.ok()) return r.status();
  }
  conn_ = std::move(*conn);
  return absl::OkStatus();
}

absl::Status PgLog::CreateSchema() {
  // Serialized by a lock of the schema's name: two jobqd starting at once
  // on a new schema would otherwise race in CREATE ... IF NOT EXISTS.
  const std::string sql = absl::StrCat(
      "BEGIN; SELECT pg_advisory_xact_lock(hashtext('jobq schema ",
      options_.schema, "')); CREATE SCHEMA IF NOT EXISTS ",
      QuoteIdent(options_.schema), "; CREATE TABLE IF NOT EXISTS ",
      Table("leader"),
      " (id integer PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL, "
      "holder text NOT NULL, since timestamptz NOT NULL); "
      "CREATE TABLE IF NOT EXISTS ",
      Table("log"),
      " (seq bigint PRIMARY KEY, generation bigint NOT NULL, "
      "record bytea NOT NULL); COMMIT");
  auto r = conn_->Exec(sql);
  if (!r.ok()) {
    if (!conn_->broken()) (void)conn_->Exec("ROLLBACK");
    return absl::Status(
        r.status().code(),
        absl::StrCat("postgres log: cannot create the schema ", options_.schema,
                     ": ", r.status().message()));
  }
  return absl::OkStatus();
}

absl::Status PgLog::TakeLeadership() {
  // The row lock waits for the transaction of a writer still appending;
  // its next one sees the new epoch and stores nothing.
  auto r =
      conn_->Exec(absl::StrCat("BEGIN; SELECT epoch, holder, since FROM ",
                               Table("leader"), " WHERE id = 1 FOR UPDATE"));
  std::string before;
  if (r.ok() && PQntuples(r->get()) == 1) {
    before = absl::StrCat(" (from epoch ", PQgetvalue(r->get(), 0, 0), ", ",
                          PQgetvalue(r->get(), 0, 1), " since ",
                          PQgetvalue(r->get(), 0, 2), ")");
  }
  if (r.ok()) {
    r = conn_->ExecParams(
        absl::StrCat(
            "INSERT INTO ", Table("leader"),
            " AS l (id, epoch, holder, since) VALUES (1, 1, $1, now()) "
            "ON CONFLICT (id) DO UPDATE SET epoch = l.epoch + 1, "
            "holder = excluded.holder, since = excluded.since "
            "RETURNING epoch"),
        {options_.holder});
  }
  if (r.ok() && !absl::SimpleAtoi(PQgetvalue(r->get(), 0, 0), &epoch_)) {
    r = absl::InternalError("postgres log: the leader row has no epoch");
  }
  if (r.ok()) r = conn_->Exec("COMMIT");
  if (!r.ok()) {
    if (!conn_->broken()) (void)conn_->Exec("ROLLBACK");
    return r.status();
  }
  spdlog::info("postgres log: leader of schema {} with epoch {}{}",
               options_.schema, epoch_, before);
  return absl::OkStatus();
}

absl::Status PgLog::LoadPosition() {
  auto r = conn_->Exec(absl::StrCat(
      "SELECT generation, min(seq), max(seq), sum(octet_length(record)) FROM ",
      Table("log"), " GROUP BY generation ORDER BY generation"));
  if (!r.ok()) return r.status();
  std::lock_guard lock(mu_);
  for (int i = 0; i < PQntuples(r->get()); ++i) {
    int64_t gen = 0, last = 0;
    Generation g;
    if (!absl::SimpleAtoi(PQgetvalue(r->get(), i, 0), &gen) ||
        !absl::SimpleAtoi(PQgetvalue(r->get(), i, 1), &g.first_seq) ||
        !absl::SimpleAtoi(PQgetvalue(r->get(), i, 2), &last) ||
        !absl::SimpleAtoi(PQgetvalue(r->get(), i, 3), &g.bytes)) {
      return absl::InternalError("postgres log: unreadable log positions");
    }
    generations_[gen] = g;
    log_bytes_.fetch_add(g.bytes);
    generation_ = gen;
    next_seq_ = std::max(next_seq_, last + 1);
  }
  positioned_ = true;
  return absl::OkStatus();
}

absl::StatusOr<RecoveryStats> PgLog::Recover(
    const std::function<void(const wal::v1::Transition&)>& apply) {
  if (absl::Status s = LoadPosition(); !s.ok()) return s;
  RecoveryStats stats;
  wal::v1::Transition t;
  absl::Status s = conn_->Stream(
      absl::StrCat("SELECT seq, record FROM ", Table("log"), " ORDER BY seq"),
      [&](const PGresult& row) {
        int64_t seq = PgInt8(row, 0, 0);
        const char* data = PQgetvalue(&row, 0, 1);
        int len = PQgetlength(&row, 0, 1);
        if (!t.ParseFromArray(data, len)) {
          return absl::DataLossError(
              absl::StrCat("postgres log: the record of seq ", seq,
                           " in schema ", options_.schema, " does not parse"));
        }
        apply(t);
        ++stats.records;
        stats.bytes += static_cast<uint64_t>(len);
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    stats.segments = generations_.size();
    stats_.recovery = stats;
  }
  return stats;
}

}  // namespace jobq::store
