#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace jobq::store {

// A file open for appending. Errors: RESOURCE_EXHAUSTED for ENOSPC (and
// EDQUOT), UNAVAILABLE for EIO and other failures, each naming the file.
// Thread: one owner.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  [[nodiscard]] virtual absl::Status Append(absl::string_view data) = 0;
  // fdatasync(2): what was appended is durable when this returns OK.
  [[nodiscard]] virtual absl::Status Sync() = 0;
  // Cuts the file back to `size` bytes (undoing a partial append).
  [[nodiscard]] virtual absl::Status Truncate(uint64_t size) = 0;
  virtual uint64_t size() const = 0;
};

// Held while a data directory is in use; released when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

// The file system as the write-ahead log sees it, so that tests can inject
// faults (ENOSPC, EIO, lost unsynced bytes) under it.
// Thread: implementations are thread-safe.
class Env {
 public:
  virtual ~Env() = default;
  // The process-wide POSIX implementation.
  static Env* Posix();

  // Creates (or truncates) `path` for appending.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  [[nodiscard]] virtual absl::Status ReadFile(const std::string& path,
                                              std::string* out) = 0;
  // Names (not paths) of the entries of `dir`.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) = 0;
  [[nodiscard]] virtual absl::Status RemoveFile(const std::string& path) = 0;
  // Cuts `path` to `size` bytes, durably: recovery cuts a torn tail before
  // it creates the next segment, which must not outlive the cut.
  [[nodiscard]] virtual absl::Status TruncateFile(const std::string& path,
                                                  uint64_t size) = 0;
  // Creates `dir` if missing.
  [[nodiscard]] virtual absl::Status CreateDir(const std::string& dir) = 0;
  // Makes the directory's entries (created, removed files) durable.
  [[nodiscard]] virtual absl::Status SyncDir(const std::string& dir) = 0;
  // An exclusive lock on `path`, created if missing; FAILED_PRECONDITION
  // when another process holds it.
  virtual absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string& path) = 0;
};

// The status for a failed system call on `path`.
absl::Status IoError(const std::string& what, const std::string& path, int err);

}  // namespace jobq::store
