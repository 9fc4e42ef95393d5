#include "exec/parents_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace jobq::exec {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteFile(const std::string& path, const std::string* data,
                       std::optional<uid_t> uid, std::optional<gid_t> gid) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", path);
  size_t done = 0;
  size_t size = data != nullptr ? data->size() : 0;
  while (done < size) {
    ssize_t n = ::write(fd, data->data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = Errno("cannot write", path);
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if ((uid || gid) && ::fchown(fd, uid ? *uid : -1, gid ? *gid : -1) != 0) {
    absl::Status s = Errno("cannot chown", path);
    ::close(fd);
    return s;
  }
  ::close(fd);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> WriteParentsDir(
    const std::vector<core::ParentLink>& parents, const std::string& base,
    std::optional<uid_t> uid, std::optional<gid_t> gid) {
  std::string path = absl::StrCat(base, "/jobq-parents-XXXXXX");
  if (::mkdtemp(path.data()) == nullptr) return Errno("cannot create", path);
  absl::Status status;
  if ((uid || gid) &&
      ::chown(path.c_str(), uid ? *uid : -1, gid ? *gid : -1) != 0) {
    status = Errno("cannot chown", path);
  }
  for (size_t i = 0; status.ok() && i < parents.size(); ++i) {
    status =
        WriteFile(absl::StrCat(path, "/", core::FormatJobId(parents[i].seq)),
                  parents[i].result.get(), uid, gid);
  }
  if (!status.ok()) {
    RemoveParentsDir(path);
    return status;
  }
  return path;
}

void RemoveParentsDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) spdlog::warn("cannot remove {}: {}", path, ec.message());
}

}  // namespace jobq::exec
