#include "store/pg_conn.h"

#include <endian.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace jobq::store {
namespace {

// libpq's messages end in a newline and may span lines: one line here.
std::string Trimmed(const char* message) {
  std::string out(absl::StripAsciiWhitespace(message ? message : ""));
  for (char& c : out) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return out;
}

// NOTICEs (such as "schema ... already exists, skipping") go to the debug
// log instead of stderr.
void LogNotice(void*, const char* message) {
  spdlog::debug("postgres: {}", Trimmed(message));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgConn>> PgConn::Connect(
    const std::string& conninfo) {
  // Keywords are applied in order, and the expanded conninfo (dbname) comes
  // last, so that its own settings win over these defaults.
  const char* keys[] = {"connect_timeout", "application_name", "dbname",
                        nullptr};
  const char* values[] = {"5", "jobqd", conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    return absl::ResourceExhaustedError("postgres: out of memory");
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(
        absl::StrCat("postgres: cannot connect: ", why));
  }
  PQsetNoticeProcessor(conn, LogNotice, nullptr);
  return std::unique_ptr<PgConn>(new PgConn(conn));
}

PgConn::~PgConn() { PQfinish(conn_); }

bool PgConn::broken() const { return PQstatus(conn_) != CONNECTION_OK; }

absl::Status PgConn::Failure(const PGresult* r, const std::string& what) {
  const char* state =
      r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string code = state != nullptr ? state : "";
  std::string why =
      Trimmed(r != nullptr && *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
                                                       : PQerrorMessage(conn_));
  // The statement, shortened: enough to tell which step failed.
  std::string step = what.size() > 40 ? what.substr(0, 40) + "..." : what;
  std::string message = absl::StrCat("postgres: ", step, ": ", why);
  // Class 08: connection exceptions; 57P0x: the server is shutting down or
  // starting; class 53: insufficient resources (53100: disk full).
  // 55P03: a lock not had within lock_timeout, worth trying again.
  if (broken() || absl::StartsWith(code, "08") ||
      absl::StartsWith(code, "57P") || code == "55P03") {
    return absl::UnavailableError(message);
  }
  if (absl::StartsWith(code, "53")) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::InternalError(message);
}

absl::StatusOr<PgResult> PgConn::Check(PGresult* raw, const std::string& what) {
  PgResult r(raw);
  ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
      st == PGRES_SINGLE_TUPLE) {
    return r;
  }
  return Failure(r.get(), what);
}

absl::StatusOr<PgResult> PgConn::Exec(const std::string& sql) {
  return Check(PQexec(conn_, sql.c_str()), sql);
}

absl::StatusOr<PgResult> PgConn::ExecParams(
    const std::string& sql, const std::vector<std::string>& params,
    bool binary_result) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  return Check(
      PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                   values.data(), nullptr, nullptr, binary_result ? 1 : 0),
      sql);
}

absl::Status PgConn::Script(
    const std::string& sql, const std::string& data,
    const std::function<absl::Status(const PGresult&)>& rows, bool* data_sent) {
  *data_sent = false;
  if (PQsendQuery(conn_, sql.c_str()) != 1) return Failure(nullptr, sql);
  absl::Status s;
  while (PGresult* raw = PQgetResult(conn_)) {
    PgResult r(raw);
    switch (PQresultStatus(raw)) {
      case PGRES_COMMAND_OK:
        break;
      case PGRES_TUPLES_OK:
        if (s.ok()) s = rows(*raw);
        break;
      case PGRES_COPY_IN:
        if (!s.ok()) {
          // CopyFail: the server ends the COPY with an error.
          (void)PQputCopyEnd(conn_, std::string(s.message()).c_str());
          break;
        }
        *data_sent = true;
        if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) !=
                1 ||
            PQputCopyEnd(conn_, nullptr) != 1) {
          s = Failure(nullptr, sql);
        }
        break;
      default:
        if (s.ok()) s = Failure(raw, sql);
    }
  }
  return s;
}

absl::Status PgConn::Stream(
    const std::string& sql,
    const std::function<absl::Status(const PGresult&)>& row) {
  if (PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr,
                        nullptr, /*resultFormat=*/1) != 1) {
    return Failure(nullptr, sql);
  }
  PQsetSingleRowMode(conn_);
  absl::Status s;
  while (PGresult* raw = PQgetResult(conn_)) {
    PgResult r(raw);
    ExecStatusType st = PQresultStatus(raw);
    if (!s.ok()) continue;  // Drain.
    if (st == PGRES_SINGLE_TUPLE) {
      s = row(*raw);
    } else if (st != PGRES_TUPLES_OK) {
      s = Failure(raw, sql);
    }
  }
  return s;
}

std::string QuoteIdent(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string LeaderSessionName(const std::string& schema, int64_t epoch) {
  // The schema's hash tells apart schemas whose names share the prefix
  // that fits.
  uint32_t hash = 2166136261u;  // FNV-1a.
  for (unsigned char c : schema) hash = (hash ^ c) * 16777619u;
  std::string name =
      absl::StrCat("jobqd leader ", epoch, " ",
                   absl::Hex(hash, absl::kZeroPad8), " ", schema);
  if (name.size() > 63) name.resize(63);
  return name;
}

int64_t PgInt8(const PGresult& r, int row, int column) {
  uint64_t v = 0;
  std::memcpy(&v, PQgetvalue(&r, row, column), sizeof v);
  return static_cast<int64_t>(be64toh(v));
}

}  // namespace jobq::store
