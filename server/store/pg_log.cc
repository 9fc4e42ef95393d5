// The writer half of PgLog: group commit into database transactions,
// stalls and retries, fencing and compaction. Open, the schema and
// recovery are in pg_log_setup.cc.
#include "store/pg_log.h"

#include <endian.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace jobq::store {
namespace {

void PutBE(std::string* out, const void* v, size_t n) {
  out->append(static_cast<const char*>(v), n);
}
void PutInt16(std::string* out, int16_t v) {
  uint16_t be = htobe16(static_cast<uint16_t>(v));
  PutBE(out, &be, sizeof be);
}
void PutInt32(std::string* out, int32_t v) {
  uint32_t be = htobe32(static_cast<uint32_t>(v));
  PutBE(out, &be, sizeof be);
}
void PutInt64(std::string* out, int64_t v) {
  uint64_t be = htobe64(static_cast<uint64_t>(v));
  PutBE(out, &be, sizeof be);
}

// COPY's binary format: a signature, flags and an empty header extension;
// then per row the field count and each field's length and bytes; then -1.
void CopyHeader(std::string* out) {
  out->append("PGCOPY\n\377\r\n\0", 11);
  PutInt32(out, 0);
  PutInt32(out, 0);
}
void CopyRow(std::string* out, int64_t seq, int64_t generation, int32_t records,
             absl::string_view bytes) {
  PutInt16(out, 4);
  PutInt32(out, 8);
  PutInt64(out, seq);
  PutInt32(out, 8);
  PutInt64(out, generation);
  PutInt32(out, 4);
  PutInt32(out, records);
  PutInt32(out, static_cast<int32_t>(bytes.size()));
  out->append(bytes.data(), bytes.size());
}

// The rows of one transaction: consecutive records of one generation share
// a row up to kRowBytes (docs/postgresql.md, "The tables").
class RowPacker {
 public:
  RowPacker(std::string* copy, int64_t seq) : copy_(copy), next_seq_(seq) {}
  // Adds the next record (its seq is the one after the last added).
  void Add(int64_t generation, absl::string_view record) {
    if (records_ > 0 && (generation != generation_ ||
                         row_.size() + 4 + record.size() > PgLog::kRowBytes)) {
      Flush();
    }
    if (records_ == 0) {
      first_seq_ = next_seq_;
      generation_ = generation;
    }
    PutInt32(&row_, static_cast<int32_t>(record.size()));
    row_.append(record.data(), record.size());
    ++records_;
    ++next_seq_;
  }
  // Ends the row being filled.
  void Flush() {
    if (records_ == 0) return;
    // A row of one record holds it bare, as the first release stored all.
    absl::string_view bytes(row_);
    if (records_ == 1) bytes.remove_prefix(4);
    CopyRow(copy_, first_seq_, generation_, records_, bytes);
    bytes_[generation_] += bytes.size();
    row_.clear();
    records_ = 0;
  }
  // The bytes stored (the `record` column) by generation, once flushed.
  const std::map<int64_t, uint64_t>& bytes() const { return bytes_; }

 private:
  std::string* copy_;
  int64_t next_seq_;
  int64_t first_seq_ = 0;
  int64_t generation_ = 0;
  int32_t records_ = 0;
  std::string row_;
  std::map<int64_t, uint64_t> bytes_;
};

}  // namespace

PgLog::PgLog(PgLogOptions options)
    : BatchedLog("postgres log", options.retry_min, options.retry_max),
      options_(std::move(options)) {
  stats_.kind = "postgres";
  stats_.dir = absl::StrCat("postgres schema ", options_.schema);
  stats_.sync = options_.sync;
}

PgLog::~PgLog() { Stop(); }

std::string PgLog::Table(const char* name) const {
  return absl::StrCat(QuoteIdent(options_.schema), ".", name);
}

absl::Status PgLog::Start(CommitCallback on_commit, LogEvents events) {
  // Where the log ends: known from Recover, unless records were applied
  // past it since (a standby that tailed the leader's log).
  if (!positioned_ || applied_seq_ >= next_seq_) {
    if (absl::Status s = LoadPosition(); !s.ok()) return s;
  }
  StartWriter(std::move(on_commit), std::move(events), "jobq-pglog");
  return absl::OkStatus();
}

void PgLog::Append(const wal::v1::Transition& t, bool withdrawable) {
  // Each record as its length (4 bytes, host order) and its bytes.
  std::string& out = withdrawable ? open_.enqueues : open_.data;
  ++(withdrawable ? open_.enqueue_records : open_.records);
  uint32_t size = static_cast<uint32_t>(t.ByteSizeLong());
  out.append(reinterpret_cast<const char*>(&size), sizeof size);
  size_t at = out.size();
  out.resize(at + size);
  t.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(&out[at]));
}

absl::Status PgLog::WriteBatches(std::deque<Batch>& batches) {
  absl::Status s = Sticky();
  if (s.ok() && (conn_ == nullptr || conn_->broken())) {
    s = Reconnect();
    if (s.ok() && in_doubt_) s = SettleInDoubt(batches);
  }
  if (s.ok() && !batches.empty()) {
    Written w;
    s = Transact(batches, w);
    // A connection that broke while idle (the server restarted since the
    // last batch) is opened again at once, before anything counts as a
    // stall. Nothing was committed: COMMIT was not sent.
    if (!s.ok() && !stalled_ && !in_doubt_ && conn_ != nullptr &&
        conn_->broken() && Reconnect().ok()) {
      w = Written{};
      s = Transact(batches, w);
    }
    if (s.ok()) Stored(batches, w);
  }
  if (s.ok() && drop_below_ != 0) {
    if (absl::Status d = DropOldGenerations(); !d.ok() && Sticky().ok()) {
      spdlog::warn("compaction: cannot delete the old records yet: {}",
                   d.ToString());
    }
  }
  if (!s.ok() && conn_ != nullptr && conn_->broken()) connected_.store(false);
  if (!s.ok() || !Sticky().ok()) {
    absl::Status sticky = Sticky();
    if (sticky.ok()) {
      std::lock_guard lock(mu_);
      ++stats_.write_failures;
      return s;  // Rolled back; tried again later.
    }
    if (!batches.empty()) on_commit_(batches.back().id, sticky);
    batches.clear();
  }
  return absl::OkStatus();
}

absl::Status PgLog::NameSession() {
  // The session is named once per connection: the next leader ends it
  // should this process hang in the middle of a transaction.
  if (named_) return absl::OkStatus();
  auto named =
      conn_->ExecParams("SELECT set_config('application_name', $1, false)",
                        {LeaderSessionName(options_.schema, epoch_)});
  if (!named.ok()) return named.status();
  named_ = true;
  return absl::OkStatus();
}

std::string PgLog::FenceQuery() const {
  return absl::StrCat("SELECT epoch FROM ", Table("leader"),
                      " WHERE id = 1 FOR SHARE");
}

absl::Status PgLog::CheckEpoch(const PGresult& r) {
  int64_t epoch = 0;
  if (PQntuples(&r) == 1 && absl::SimpleAtoi(PQgetvalue(&r, 0, 0), &epoch) &&
      epoch == epoch_) {
    return absl::OkStatus();
  }
  absl::Status deposed = absl::UnavailableError(
      absl::StrCat("postgres log: deposed: another jobqd took over the schema ",
                   options_.schema, " (its epoch is ", epoch, ", this one's ",
                   epoch_, "); this jobqd accepts no more writes"));
  spdlog::error("{}", std::string(deposed.message()));
  Stick(deposed);
  if (options_.on_deposed) options_.on_deposed(deposed);
  return deposed;
}

absl::Status PgLog::BeginFenced() {
  if (absl::Status s = NameSession(); !s.ok()) return s;
  auto r = conn_->Exec(absl::StrCat("BEGIN; ", FenceQuery()));
  if (!r.ok()) {
    // An error (the table gone, say) leaves the transaction aborted: end
    // it, or every later BEGIN on this connection would fail too.
    if (!conn_->broken()) (void)conn_->Exec("ROLLBACK");
    return r.status();
  }
  if (!CheckEpoch(*r->get()).ok()) {
    (void)conn_->Exec("ROLLBACK");
    return Sticky();
  }
  return absl::OkStatus();
}

absl::Status PgLog::Transact(const std::deque<Batch>& batches, Written& w) {
  std::string data;
  CopyHeader(&data);
  int64_t seq = next_seq_;
  w.generation = generation_;
  w.generations[w.generation].first_seq = seq;
  RowPacker rows(&data, seq);
  for (const Batch& b : batches) {
    if (b.rotate) w.generations[++w.generation].first_seq = seq;
    for (const std::string* records : {&b.enqueues, &b.data}) {
      for (size_t at = 0; at < records->size();) {
        uint32_t size;
        std::memcpy(&size, records->data() + at, sizeof size);
        absl::string_view r(records->data() + at + sizeof size, size);
        at += sizeof size + size;
        rows.Add(w.generation, r);
        ++seq;
        ++w.records;
      }
    }
    w.drop_old = w.drop_old || b.drop_old;
  }
  rows.Flush();
  for (const auto& [generation, bytes] : rows.bytes()) {
    w.generations[generation].bytes += bytes;
  }
  PutInt16(&data, -1);
  w.batches = batches.size();
  w.last_batch = batches.back().id;
  w.last_seq = seq - 1;
  auto t0 = std::chrono::steady_clock::now();
  if (absl::Status s = NameSession(); !s.ok()) return s;
  // The whole transaction is one query: the fence, the COPY of the rows
  // and COMMIT, which the server runs as soon as the COPY's input ends.
  // A fence that finds another epoch fails the COPY, and COMMIT is
  // skipped.
  std::string sql = absl::StrCat("BEGIN; ", FenceQuery(), "; ");
  if (w.records > 0) {
    absl::StrAppend(&sql, "COPY ", Table("log"),
                    " (seq, generation, records, record) FROM STDIN "
                    "(FORMAT binary); ");
  }
  sql += "COMMIT";
  // A fence that fails stops before the rows go out: `sent` stays false.
  bool sent = false;
  absl::Status s = conn_->Script(
      sql, data, [this](const PGresult& r) { return CheckEpoch(r); }, &sent);
  if (s.ok() && options_.lose_commit_answer && options_.lose_commit_answer()) {
    conn_.reset();
    in_doubt_ = true;
    doubt_ = w;
    return absl::UnavailableError("postgres: COMMIT: the answer was lost");
  }
  if (!s.ok()) {
    if (!conn_->broken()) {
      // Ended by the error, or aborted: ROLLBACK ends it either way.
      (void)conn_->Exec("ROLLBACK");
    } else if (sent) {
      // Lost with the connection, the COMMIT may have been carried out.
      in_doubt_ = true;
      doubt_ = w;
    }
    return s;
  }
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  std::lock_guard lock(mu_);
  ++stats_.fsyncs;
  stats_.fsync_us.Record(us);
  stats_.group_records.Record(w.records);
  return absl::OkStatus();
}

absl::Status PgLog::SettleInDoubt(std::deque<Batch>& batches) {
  absl::Status s = BeginFenced();
  if (!s.ok()) return s;
  auto r = conn_->Exec(LastSeqQuery());
  (void)conn_->Exec("COMMIT");
  if (!r.ok()) return r.status();
  int64_t max_seq = 0;
  (void)absl::SimpleAtoi(PQgetvalue(r->get(), 0, 0), &max_seq);
  in_doubt_ = false;
  if (doubt_.records > 0 && max_seq >= doubt_.last_seq) {
    spdlog::info("postgres log: the commit in doubt was stored (up to {})",
                 max_seq);
    Stored(batches, doubt_);
  }
  return absl::OkStatus();
}

void PgLog::Stored(std::deque<Batch>& batches, const Written& w) {
  next_seq_ = w.last_seq + 1;
  generation_ = w.generation;
  {
    std::lock_guard lock(mu_);
    for (const auto& [number, g] : w.generations) {
      Generation& held = generations_[number];
      if (held.first_seq == 0) held.first_seq = g.first_seq;
      held.bytes += g.bytes;
      log_bytes_.fetch_add(g.bytes);
    }
    stats_.records_written += w.records;
    ++stats_.batches_written;
  }
  if (w.drop_old) drop_below_ = w.generation;
  batches.erase(batches.begin(),
                batches.begin() + static_cast<long>(w.batches));
  on_commit_(w.last_batch, absl::OkStatus());
}

absl::Status PgLog::DropOldGenerations() {
  int64_t first = 0;
  {
    std::lock_guard lock(mu_);
    first = generations_[drop_below_].first_seq;
  }
  absl::Status s = BeginFenced();
  if (s.ok()) {
    auto r = conn_->ExecParams(
        absl::StrCat("DELETE FROM ", Table("log"), " WHERE seq < $1"),
        {std::to_string(first)});
    if (r.ok()) r = conn_->Exec("COMMIT");
    if (!r.ok() && !conn_->broken()) (void)conn_->Exec("ROLLBACK");
    s = r.status();
  }
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  for (auto it = generations_.begin();
       it != generations_.end() && it->first < drop_below_;) {
    log_bytes_.fetch_sub(it->second.bytes);
    it = generations_.erase(it);
  }
  drop_below_ = 0;
  return absl::OkStatus();
}

LogStats PgLog::Stats() const {
  std::lock_guard lock(mu_);
  LogStats s = stats_;
  s.segments = generations_.size();
  s.log_bytes = log_bytes_.load();
  return s;
}

}  // namespace jobq::store
