#pragma once

#include <cstddef>
#include <string_view>

namespace jobq::web {

// A file of the dashboard, embedded into jobqd at build time
// (cmake/embed_files.cmake turns server/web/static/ and the packaged
// chart library into the generated web_assets.cc).
struct StaticFile {
  const char* url;           // "/index.html", "/lib/dygraph.min.js"
  const char* content_type;  // From the extension.
  const unsigned char* data;
  size_t size;
};

extern const StaticFile kStaticFiles[];
extern const size_t kStaticFileCount;

// The file served at `url`, or null.
const StaticFile* FindStaticFile(std::string_view url);

}  // namespace jobq::web
