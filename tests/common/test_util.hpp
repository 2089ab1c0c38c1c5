// Small helpers the unit tests of several modules share.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "cache/file_layout.hpp"

namespace torfs::testing {

// A fresh directory (mode 0700) under the temp dir, named <prefix>-XXXXXX; empty on failure.
inline std::filesystem::path make_temp_dir(std::string_view prefix) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

// A FileEntry for building layouts in tests.
inline FileEntry entry(std::string path, std::uint64_t size, bool pad = false) {
  FileEntry e;
  e.path = std::move(path);
  e.size = size;
  e.pad = pad;
  return e;
}

}  // namespace torfs::testing
