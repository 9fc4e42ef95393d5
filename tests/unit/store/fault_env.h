#pragma once

#include <algorithm>
#include <cerrno>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "store/env.h"

namespace jobq::store {

// An in-memory file system that fails on demand, in the manner of LevelDB's
// fault_injection_test: appends can fail with an errno (after writing part
// of the data, as a full disk does), fdatasync can fail, and a simulated
// power cut drops every byte that was not synced.
// Thread: safe.
class FaultEnv final : public Env {
 public:
  struct File {
    std::string data;
    size_t synced = 0;
  };

  // The next `n` appends succeed, then every append fails with `err`
  // (writing half its data first) until Heal().
  void FailAppendsAfter(int n, int err = ENOSPC) {
    std::lock_guard lock(mu_);
    appends_left_ = n;
    append_errno_ = err;
  }
  // Runs before every sync (outside the lock): tests block the writer here.
  void SetSyncHook(std::function<void()> hook) {
    std::lock_guard lock(mu_);
    sync_hook_ = std::move(hook);
  }
  // Runs before every read (outside the lock): tests hold recovery here.
  void SetReadHook(std::function<void()> hook) {
    std::lock_guard lock(mu_);
    read_hook_ = std::move(hook);
  }
  // Removing `path` fails with EACCES until Heal().
  void FailRemove(const std::string& path) {
    std::lock_guard lock(mu_);
    fail_remove_ = path;
  }
  void FailSyncs() {
    std::lock_guard lock(mu_);
    fail_sync_ = true;
  }
  void Heal() {
    std::lock_guard lock(mu_);
    appends_left_ = -1;
    fail_sync_ = false;
    fail_remove_.clear();
  }
  // A power cut: every file loses what was written after its last sync.
  void DropUnsynced() {
    std::lock_guard lock(mu_);
    for (auto& [path, f] : files_) f.data.resize(f.synced);
  }
  // Direct access for tests that damage files.
  void Mutate(const std::string& path,
              const std::function<void(std::string&)>& fn) {
    std::lock_guard lock(mu_);
    fn(files_[path].data);
    files_[path].synced = files_[path].data.size();
  }
  size_t FileCount() {
    std::lock_guard lock(mu_);
    return files_.size();
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override;
  absl::Status ReadFile(const std::string& path, std::string* out) override {
    std::function<void()> hook;
    {
      std::lock_guard lock(mu_);
      hook = read_hook_;
    }
    if (hook) hook();
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return IoError("open", path, ENOENT);
    *out = it->second.data;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) override {
    std::lock_guard lock(mu_);
    std::vector<std::string> names;
    for (const auto& [path, f] : files_) {
      if (path.rfind(dir + "/", 0) == 0)
        names.push_back(path.substr(dir.size() + 1));
    }
    return names;
  }
  absl::Status RemoveFile(const std::string& path) override {
    std::lock_guard lock(mu_);
    if (path == fail_remove_) return IoError("unlink", path, EACCES);
    if (files_.erase(path) == 0) return IoError("unlink", path, ENOENT);
    return absl::OkStatus();
  }
  absl::Status TruncateFile(const std::string& path, uint64_t size) override {
    std::lock_guard lock(mu_);
    auto& f = files_[path];
    f.data.resize(size);
    f.synced = std::min<size_t>(f.synced, size);
    return absl::OkStatus();
  }
  absl::Status CreateDir(const std::string&) override {
    return absl::OkStatus();
  }
  absl::Status SyncDir(const std::string&) override { return absl::OkStatus(); }
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string&) override {
    return std::make_unique<FileLock>();
  }

 private:
  friend class FaultFile;
  std::mutex mu_;
  std::map<std::string, File> files_;
  int appends_left_ = -1;  // -1: no failure.
  int append_errno_ = ENOSPC;
  bool fail_sync_ = false;
  std::string fail_remove_;
  std::function<void()> sync_hook_;
  std::function<void()> read_hook_;
};

class FaultFile final : public WritableFile {
 public:
  FaultFile(FaultEnv* env, std::string path)
      : env_(env), path_(std::move(path)) {}
  absl::Status Append(absl::string_view data) override {
    std::lock_guard lock(env_->mu_);
    auto& f = env_->files_[path_];
    if (env_->appends_left_ == 0) {
      f.data.append(data.data(), data.size() / 2);
      return IoError("write", path_, env_->append_errno_);
    }
    if (env_->appends_left_ > 0) --env_->appends_left_;
    f.data.append(data.data(), data.size());
    return absl::OkStatus();
  }
  absl::Status Sync() override {
    std::function<void()> hook;
    {
      std::lock_guard lock(env_->mu_);
      hook = env_->sync_hook_;
    }
    if (hook) hook();
    std::lock_guard lock(env_->mu_);
    if (env_->fail_sync_) return IoError("fdatasync", path_, EIO);
    auto& f = env_->files_[path_];
    f.synced = f.data.size();
    return absl::OkStatus();
  }
  absl::Status Truncate(uint64_t size) override {
    std::lock_guard lock(env_->mu_);
    auto& f = env_->files_[path_];
    f.data.resize(size);
    f.synced = std::min<size_t>(f.synced, size);
    return absl::OkStatus();
  }
  uint64_t size() const override {
    std::lock_guard lock(env_->mu_);
    return env_->files_[path_].data.size();
  }

 private:
  FaultEnv* env_;
  std::string path_;
};

inline absl::StatusOr<std::unique_ptr<WritableFile>> FaultEnv::NewWritableFile(
    const std::string& path) {
  {
    std::lock_guard lock(mu_);
    files_[path] = File{};
  }
  return std::make_unique<FaultFile>(this, path);
}

}  // namespace jobq::store
