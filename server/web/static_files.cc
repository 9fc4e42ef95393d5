#include "web/static_files.h"

namespace jobq::web {

const StaticFile* FindStaticFile(std::string_view url) {
  for (size_t i = 0; i < kStaticFileCount; ++i) {
    if (url == kStaticFiles[i].url) return &kStaticFiles[i];
  }
  return nullptr;
}

}  // namespace jobq::web
