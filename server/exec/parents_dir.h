#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/job.h"

namespace jobq::exec {

// The results of a command run's parents (JobSpec.depends_on), as the
// command reads them: a directory of its own with one file per parent,
// named by the parent's id and holding its result, passed in
// JOBQ_PARENTS_DIR. Made under `base` (a directory that exists) with mode
// 0700, owned by `uid`/`gid` when the command runs as another user.
// Thread: any; blocks on the file system (small files, one per parent).
absl::StatusOr<std::string> WriteParentsDir(
    const std::vector<core::ParentLink>& parents, const std::string& base,
    std::optional<uid_t> uid, std::optional<gid_t> gid);

// Removes such a directory and what it holds; errors are logged.
void RemoveParentsDir(const std::string& path);

}  // namespace jobq::exec
