#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace jobq::web {

// Appends `text` as a JSON string (quoted; quotes, backslashes and control
// characters escaped; bytes past ASCII kept as they are).
void AppendJsonString(absl::string_view text, std::string* out);

}  // namespace jobq::web
