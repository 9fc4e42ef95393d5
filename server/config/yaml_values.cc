#include "config/yaml_values.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "config/config.h"

namespace jobq::config {

absl::Status Bad(const std::string& key, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("config: ", key, ": ", what));
}

absl::Status ReadString(const YAML::Node& n, const std::string& key,
                        std::string* out) {
  if (!n.IsScalar()) return Bad(key, "must be a string");
  *out = n.Scalar();
  return absl::OkStatus();
}

absl::Status ReadInt(const YAML::Node& n, const std::string& key, int min,
                     int max, int* out) {
  int v = 0;
  if (!n.IsScalar() || !absl::SimpleAtoi(n.Scalar(), &v) || v < min ||
      v > max) {
    return Bad(key,
               absl::StrCat("must be an integer between ", min, " and ", max));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status ReadDuration(const YAML::Node& n, const std::string& key,
                          DurationUs* out) {
  if (!n.IsScalar() || !ParseDurationText(n.Scalar(), out)) {
    return Bad(key, "must be a duration such as 30s or 250ms");
  }
  return absl::OkStatus();
}

absl::Status ReadSize(const YAML::Node& n, const std::string& key,
                      size_t* out) {
  if (!n.IsScalar() || !ParseSizeText(n.Scalar(), out)) {
    return Bad(key, "must be a size such as 1048576 or 1MiB");
  }
  return absl::OkStatus();
}

absl::Status ReadBool(const YAML::Node& n, const std::string& key, bool* out) {
  if (n.IsScalar()) {
    const std::string& v = n.Scalar();
    if (v == "true" || v == "yes" || v == "on") {
      *out = true;
      return absl::OkStatus();
    }
    if (v == "false" || v == "no" || v == "off") {
      *out = false;
      return absl::OkStatus();
    }
  }
  return Bad(key, "must be true or false");
}

absl::Status ReadRate(const YAML::Node& n, const std::string& key,
                      double* out) {
  if (!n.IsScalar() || !absl::SimpleAtod(n.Scalar(), out) || !(*out >= 0) ||
      *out > 1e9) {
    return Bad(key, "must be a number between 0 and 1e9");
  }
  return absl::OkStatus();
}

}  // namespace jobq::config
