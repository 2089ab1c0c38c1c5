// Fuzzes the .torrent loader. Whatever loads must be safe to lay out on disk:
// every path is below the torrent's root, no element is empty, ".", ".." or over NAME_MAX,
// stored paths are distinct and none is also a directory of another; the info-hash is the SHA-1
// of the info bytes, and parsing those bytes alone (as ut_metadata would) gives the same files.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include "engine/metainfo.hpp"
#include "engine/path_sanitizer.hpp"

using namespace torfs;

namespace {

void check_path(const Metainfo& m, std::string_view path) {
  if (path.substr(0, m.name.size()) != m.name) __builtin_trap();
  if (path.size() != m.name.size() && (!m.multi_file || path[m.name.size()] != '/')) {
    __builtin_trap();
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = std::min(path.find('/', start), path.size());
    const std::string_view element = path.substr(start, slash - start);
    if (element.empty() || element == "." || element == ".." || element.size() > kNameMax ||
        element.find('\0') != std::string_view::npos || !is_valid_utf8(element)) {
      __builtin_trap();
    }
    if (slash == path.size()) break;
    start = slash + 1;
  }
}

void check(const Metainfo& m) {
  if (sha1(m.info_bytes) != m.info_hash) __builtin_trap();
  if (m.piece_hashes.size() != m.layout.num_pieces() || m.layout.total_size() == 0) {
    __builtin_trap();
  }
  std::unordered_set<std::string_view> files;
  for (const auto& f : m.layout.files()) {
    check_path(m, f.path);
    if (!f.pad && !files.insert(f.path).second) __builtin_trap();
  }
  for (const auto& f : m.layout.files()) {
    if (f.pad) continue;
    for (std::size_t slash = f.path.find('/'); slash != std::string::npos;
         slash = f.path.find('/', slash + 1)) {
      if (files.count(std::string_view(f.path).substr(0, slash))) __builtin_trap();
    }
  }
  auto alone = parse_info_dict(m.info_bytes, m.info_hash);
  if (!alone || alone->layout.num_files() != m.layout.num_files()) __builtin_trap();
  for (std::uint32_t i = 0; i < m.layout.num_files(); ++i) {
    const auto& a = alone->layout.files()[i];
    const auto& b = m.layout.files()[i];
    if (a.path != b.path || a.size != b.size || a.offset != b.offset || a.pad != b.pad) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // Small limits so the fuzzer reaches them.
  const MetainfoLimits limits{.max_torrent_size = 1 << 20, .max_tokens = 20000, .max_files = 500};
  auto m = parse_metainfo(input, limits);
  if (m) check(*m);
  return 0;
}
