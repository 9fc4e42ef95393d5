// Opening the PostgreSQL log: the schema, the leadership and recovery
// (docs/postgresql.md). The writer is in pg_log.cc.
#include <endian.h>
#include <spdlog/spdlog.h>

#include <cstring>

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
  return log;
}

absl::Status PgLog::Reconnect() {
  conn_.reset();
  connected_.store(false);
  auto conn = PgConn::Connect(options_.conninfo);
  if (!conn.ok()) return conn.status();
  if (!options_.sync) {
    auto r = (*conn)->Exec("SET synchronous_commit = off");
    if (!r.ok()) return r.status();
  }
  conn_ = std::move(*conn);
  named_ = false;
  connected_.store(true);
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
      "holder text NOT NULL, since timestamptz NOT NULL); ",
      // The lease columns, also added to a schema of an earlier release.
      "ALTER TABLE ", Table("leader"),
      " ADD COLUMN IF NOT EXISTS address text NOT NULL DEFAULT '', "
      "ADD COLUMN IF NOT EXISTS lease_until timestamptz NOT NULL DEFAULT "
      "'-infinity', ADD COLUMN IF NOT EXISTS backend_pid integer NOT NULL "
      "DEFAULT 0; INSERT INTO ",
      Table("leader"),
      " (id, epoch, holder, since) VALUES (1, 0, '', now()) "
      "ON CONFLICT (id) DO NOTHING; CREATE TABLE IF NOT EXISTS ",
      Table("log"),
      " (seq bigint PRIMARY KEY, generation bigint NOT NULL, "
      "record bytea NOT NULL, records integer NOT NULL DEFAULT 1) "
      "WITH (toast_tuple_target = 8160); ",
      // A log of the first release (a row per record) gains the count,
      // without locking the table when it has it already.
      "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid "
      "= '",
      Table("log"),
      "'::regclass AND attname = 'records' AND NOT attisdropped) THEN ALTER "
      "TABLE ",
      Table("log"),
      " ADD COLUMN records integer NOT NULL DEFAULT 1, SET "
      "(toast_tuple_target = 8160); END IF; END $$; COMMIT");
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

std::string PgLog::LastSeqQuery() const {
  return absl::StrCat("SELECT coalesce((SELECT seq + records - 1 FROM ",
                      Table("log"), " ORDER BY seq DESC LIMIT 1), 0)");
}

absl::Status PgLog::LoadPosition() {
  auto r = conn_->Exec(
      absl::StrCat("SELECT generation, min(seq), max(seq + records - 1), "
                   "sum(octet_length(record)) FROM ",
                   Table("log"), " GROUP BY generation ORDER BY generation"));
  if (!r.ok()) return r.status();
  std::lock_guard lock(mu_);
  generations_.clear();
  log_bytes_.store(0);
  next_seq_ = 1;
  generation_ = 1;
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

absl::Status PgLog::ReadAfter(
    int64_t after, bool contiguous,
    const std::function<void(const wal::v1::Transition&)>& apply,
    RecoveryStats* stats) {
  wal::v1::Transition t;
  return conn_->Stream(
      // A reader always stops at the end of a row, so the row holding the
      // record after `after` starts with it.
      absl::StrCat("SELECT seq, record, records FROM ", Table("log"),
                   " WHERE seq > ", after, " ORDER BY seq"),
      [&](const PGresult& row) {
        int64_t seq = PgInt8(row, 0, 0);
        if (contiguous && seq != applied_seq_ + 1) {
          return absl::FailedPreconditionError(absl::StrCat(
              "postgres log: behind: the records after seq ", applied_seq_,
              " were deleted by a compaction (the next stored is ", seq, ")"));
        }
        absl::string_view bytes(PQgetvalue(&row, 0, 1),
                                static_cast<size_t>(PQgetlength(&row, 0, 1)));
        uint32_t records = 0;
        std::memcpy(&records, PQgetvalue(&row, 0, 2), sizeof records);
        records = be32toh(records);
        auto unreadable = [&](int64_t at) {
          return absl::DataLossError(
              absl::StrCat("postgres log: the record of seq ", at,
                           " in schema ", options_.schema, " does not parse"));
        };
        if (records == 0 || records > bytes.size()) return unreadable(seq);
        for (uint32_t i = 0; i < records; ++i) {
          absl::string_view record = bytes;  // A row of one: bare.
          if (records > 1) {
            uint32_t size = 0;
            if (bytes.size() < sizeof size) return unreadable(seq + i);
            std::memcpy(&size, bytes.data(), sizeof size);
            size = be32toh(size);
            bytes.remove_prefix(sizeof size);
            if (bytes.size() < size) return unreadable(seq + i);
            record = bytes.substr(0, size);
            bytes.remove_prefix(size);
          }
          if (!t.ParseFromArray(record.data(),
                                static_cast<int>(record.size()))) {
            return unreadable(seq + i);
          }
          apply(t);
          applied_seq_ = seq + i;
          ++stats->records;
        }
        if (records > 1 && !bytes.empty()) return unreadable(seq + records);
        stats->bytes += static_cast<uint64_t>(PQgetlength(&row, 0, 1));
        return absl::OkStatus();
      });
}

absl::StatusOr<RecoveryStats> PgLog::Recover(
    const std::function<void(const wal::v1::Transition&)>& apply) {
  if (absl::Status s = LoadPosition(); !s.ok()) return s;
  RecoveryStats stats;
  if (absl::Status s = ReadAfter(0, false, apply, &stats); !s.ok()) return s;
  std::lock_guard lock(mu_);
  stats.segments = generations_.size();
  stats_.recovery = stats;
  return stats;
}

absl::StatusOr<uint64_t> PgLog::Tail(
    const std::function<void(const wal::v1::Transition&)>& apply) {
  if (conn_ == nullptr || conn_->broken()) {
    if (absl::Status s = Reconnect(); !s.ok()) return s;
  }
  auto r = conn_->Exec(LastSeqQuery());
  if (!r.ok()) {
    if (conn_->broken()) connected_.store(false);
    return r.status();
  }
  int64_t last = 0;
  (void)absl::SimpleAtoi(PQgetvalue(r->get(), 0, 0), &last);
  lag_.store(std::max<int64_t>(0, last - applied_seq_));
  if (last <= applied_seq_) return 0;
  RecoveryStats stats;
  absl::Status s = ReadAfter(applied_seq_, true, apply, &stats);
  if (!s.ok() && conn_->broken()) connected_.store(false);
  lag_.store(std::max<int64_t>(0, last - applied_seq_));
  if (!s.ok()) return s;
  return stats.records;
}

}  // namespace jobq::store
