// Metainfo parsing. Choices worth knowing (see also metainfo.hpp):
// - The outer file is decoded non-strictly (real .torrents have unsorted keys outside `info`),
//   and so is `info` itself; the info-hash is always over the raw info bytes, never over a
//   re-encoding. A non-canonical info dict is accepted with a warning.
// - Piece length: within [min_piece_length, max_piece_length] and either a power of two or a
//   multiple of 16 KiB (libtorrent accepts any multiple of 16 KiB; a power of two below 16 KiB
//   is only reachable by lowering min_piece_length).
// - A torrent with both `length` and `files` is multi-file (as in libtorrent), with a warning.
// - Bytes after the top-level dictionary are ignored with a warning (libtorrent ignores them
//   too, and they are outside the info-hash).
// - A torrent with no files or a total size of 0 is rejected (nothing to download); zero-length
//   files inside a multi-file torrent are fine.
#include "engine/metainfo.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "engine/bencode.hpp"
#include "engine/path_sanitizer.hpp"

namespace torfs {
namespace {

using bencode::Node;

constexpr std::uint32_t kBlock = 16 * 1024;

Error fail(const std::string& what) {
  return make_error(std::errc::invalid_argument, "metainfo: " + what);
}
Error too_large(const std::string& what) {
  return make_error(std::errc::value_too_large, "metainfo: " + what);
}

// The value of `key` if it is a valid UTF-8 string, else the value of `fallback_key`.
std::optional<std::string_view> utf8_preferred(Node dict, std::string_view key,
                                               std::string_view fallback_key) {
  auto preferred = dict.find_string(key);
  if (preferred && is_valid_utf8(*preferred)) return preferred;
  return dict.find_string(fallback_key);
}

Result<std::uint32_t> parse_piece_length(Node info, const MetainfoLimits& limits) {
  auto node = info.find("piece length");
  if (!node) return fail("missing info.piece length");
  if (!node->is_int()) return fail("info.piece length is not an integer");
  const std::int64_t pl = node->as_int();
  const std::string text = "info.piece length " + std::to_string(pl);
  if (pl <= 0) return fail(text + " is not positive");
  if (pl < limits.min_piece_length || pl > limits.max_piece_length) {
    return fail(text + " is outside [" + std::to_string(limits.min_piece_length) + ", " +
                std::to_string(limits.max_piece_length) + "]");
  }
  const bool power_of_two = (pl & (pl - 1)) == 0;
  if (!power_of_two && pl % kBlock != 0) {
    return fail(text + " is neither a power of two nor a multiple of 16 KiB");
  }
  return static_cast<std::uint32_t>(pl);
}

// BEP 47 attributes; pads are also recognised by the legacy names other clients write.
void apply_attributes(Node entry, FileEntry& file, const std::vector<std::string_view>& path) {
  if (auto attr = entry.find_string("attr")) {
    file.pad = attr->find('p') != std::string_view::npos;
    file.executable = attr->find('x') != std::string_view::npos;
    file.hidden = attr->find('h') != std::string_view::npos;
  }
  if (path.size() == 2 && path[0] == ".pad") file.pad = true;
  if (!path.empty() && path.back().substr(0, 18) == "_____padding_file_") file.pad = true;
}

// A file's path elements: `path.utf-8` when it is a list of valid UTF-8 strings, else `path`.
Result<std::vector<std::string_view>> parse_path(Node entry, const std::string& where) {
  if (auto utf8 = entry.find_list("path.utf-8")) {
    std::vector<std::string_view> elements;
    for (Node e : utf8->elements()) {
      if (!e.is_string() || !is_valid_utf8(e.as_string())) {
        elements.clear();
        break;
      }
      elements.push_back(e.as_string());
    }
    if (!elements.empty()) return elements;
  }
  auto path = entry.find_list("path");
  if (!path) return fail(where + ".path is missing or not a list");
  std::vector<std::string_view> elements;
  elements.reserve(path->size());
  std::size_t i = 0;
  for (Node e : path->elements()) {
    if (!e.is_string()) return fail(where + ".path[" + std::to_string(i) + "] is not a string");
    elements.push_back(e.as_string());
    ++i;
  }
  return elements;
}

Result<std::uint64_t> parse_length(Node dict, const std::string& where) {
  auto node = dict.find("length");
  if (!node) return fail("missing " + where + ".length");
  if (!node->is_int()) return fail(where + ".length is not an integer");
  if (node->as_int() < 0) {
    return fail(where + ".length " + std::to_string(node->as_int()) + " is negative");
  }
  return static_cast<std::uint64_t>(node->as_int());
}

// Adds `size` to `total`, refusing totals above INT64_MAX (offsets become off_t later).
bool add_size(std::uint64_t& total, std::uint64_t size) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (size > kMax - total) return false;
  total += size;
  return true;
}

Result<std::vector<FileEntry>> parse_files(Node info, const MetainfoLimits& limits,
                                           const std::string& name, std::string_view raw_name,
                                           Metainfo& m) {
  auto files = info.find("files");
  if (!files->is_list()) return fail("info.files is not a list");
  if (files->size() == 0) return fail("info.files is empty (nothing to download)");
  if (files->size() > limits.max_files) {
    return too_large("info.files has " + std::to_string(files->size()) +
                     " entries, more than the limit of " + std::to_string(limits.max_files));
  }
  std::vector<FileEntry> entries;
  std::vector<PathInput> inputs;
  entries.reserve(files->size());
  inputs.reserve(files->size());
  std::uint64_t total = 0;
  for (Node entry : files->elements()) {
    const std::string where = "info.files[" + std::to_string(entries.size()) + "]";
    if (!entry.is_dict()) return fail(where + " is not a dictionary");
    auto length = parse_length(entry, where);
    if (!length) return std::move(length).take_error();
    auto path = parse_path(entry, where);
    if (!path) return std::move(path).take_error();
    if (!add_size(total, *length)) return too_large("total size overflows at " + where);
    FileEntry& file = entries.emplace_back();
    file.size = *length;
    apply_attributes(entry, file, *path);
    inputs.push_back({std::move(*path), file.pad});
  }
  auto paths = sanitize_file_paths(name, inputs, m.warnings);
  m.original_paths.reserve(inputs.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    entries[i].path = std::move(paths[i]);
    std::vector<std::string>& original = m.original_paths.emplace_back();
    original.reserve(inputs[i].elements.size() + 1);
    original.emplace_back(raw_name);
    original.insert(original.end(), inputs[i].elements.begin(), inputs[i].elements.end());
  }
  return entries;
}

// `canonical`: the whole document was canonical, so the info dict is too (no need to check).
Result<void> parse_info(Node info, bool canonical, const MetainfoLimits& limits, Metainfo& m) {
  if (!info.is_dict()) return fail("'info' is not a dictionary");
  m.info_bytes = std::string(info.raw());
  m.info_hash = sha1(m.info_bytes);
  if (!canonical) {
    auto strict = bencode::decode(m.info_bytes, {.max_depth = limits.max_depth,
                                                 .max_tokens = limits.max_tokens,
                                                 .max_size = limits.max_torrent_size});
    if (!strict) {
      m.warnings.push_back("info dictionary is not canonical bencode (" + strict.error().message +
                           "); the info-hash covers its bytes as they are");
    }
  }
  auto piece_length = parse_piece_length(info, limits);
  if (!piece_length) return std::move(piece_length).take_error();

  auto pieces = info.find("pieces");
  if (!pieces) return fail("missing info.pieces");
  if (!pieces->is_string()) return fail("info.pieces is not a string");
  const std::string_view hashes = pieces->as_string();
  if (hashes.size() % 20 != 0) {
    return fail("info.pieces length " + std::to_string(hashes.size()) + " is not a multiple of 20");
  }

  const auto raw_name = utf8_preferred(info, "name.utf-8", "name");
  m.name = sanitize_name(raw_name.value_or(""), to_hex(m.info_hash), m.warnings);

  const bool has_files = info.find("files").has_value();
  const bool has_length = info.find("length").has_value();
  if (has_files && has_length) {
    m.warnings.push_back("info has both 'length' and 'files'; using 'files'");
  }
  if (!has_files && !has_length) return fail("info has neither 'length' nor 'files'");
  std::vector<FileEntry> files;
  if (has_files) {
    auto parsed = parse_files(info, limits, m.name, raw_name.value_or(""), m);
    if (!parsed) return std::move(parsed).take_error();
    files = std::move(*parsed);
    m.multi_file = true;
  } else {
    auto length = parse_length(info, "info");
    if (!length) return std::move(length).take_error();
    FileEntry& file = files.emplace_back();
    file.path = m.name;
    file.size = *length;
    apply_attributes(info, file, {});
    file.pad = false;  // a single file is the payload, whatever its attributes claim
    m.original_paths.push_back({std::string(raw_name.value_or(""))});
  }

  auto layout = FileLayout::create(std::move(files), *piece_length);
  if (!layout) return fail(layout.error().message);
  if (layout->total_size() == 0) return fail("total size is 0 (nothing to download)");
  const std::uint64_t expected = layout->num_pieces();
  if (hashes.size() / 20 != expected) {
    return fail("info.pieces holds " + std::to_string(hashes.size() / 20) + " hashes but " +
                std::to_string(layout->total_size()) + " bytes in pieces of " +
                std::to_string(*piece_length) + " need " + std::to_string(expected));
  }
  m.piece_hashes.resize(expected);
  for (std::size_t i = 0; i < expected; ++i) {
    std::memcpy(m.piece_hashes[i].data(), hashes.data() + 20 * i, 20);
  }
  m.layout = std::move(*layout);
  m.is_private = info.find_int("private") == 1;
  return {};
}

// BEP 12 tiers (URLs deduplicated across tiers, empty tiers dropped); a lone `announce` when
// there is no usable announce-list.
void parse_trackers(Node root, Metainfo& m) {
  std::unordered_set<std::string_view> seen;
  if (auto list = root.find_list("announce-list")) {
    for (Node tier : list->elements()) {
      std::vector<std::string> urls;
      for (Node url : tier.elements()) {  // a non-list tier iterates as empty
        if (url.is_string() && !url.as_string().empty() && seen.insert(url.as_string()).second) {
          urls.emplace_back(url.as_string());
        }
      }
      if (!urls.empty()) m.tracker_tiers.push_back(std::move(urls));
    }
  }
  if (m.tracker_tiers.empty()) {
    if (auto url = root.find_string("announce"); url && !url->empty()) {
      m.tracker_tiers.push_back({std::string(*url)});
    }
  }
}

// BEP 19: `url-list` is one URL or a list of them.
void parse_web_seeds(Node root, Metainfo& m) {
  auto add = [&](Node url) {
    if (!url.is_string() || url.as_string().empty()) return;
    const std::string s(url.as_string());
    if (std::find(m.web_seeds.begin(), m.web_seeds.end(), s) == m.web_seeds.end()) {
      m.web_seeds.push_back(s);
    }
  };
  auto node = root.find("url-list");
  if (!node) return;
  if (node->is_string()) add(*node);
  for (Node url : node->elements())
    add(url);
}

bencode::Limits decode_limits(const MetainfoLimits& limits) {
  return {.max_depth = limits.max_depth,
          .max_tokens = limits.max_tokens,
          .max_size = limits.max_torrent_size,
          .strict = false};
}

}  // namespace

Result<Metainfo> parse_metainfo(std::string_view bytes, const MetainfoLimits& limits) {
  if (bytes.size() > limits.max_torrent_size) {
    return too_large("torrent of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                     std::to_string(limits.max_torrent_size));
  }
  std::size_t consumed = 0;
  auto doc = bencode::decode_prefix(bytes, consumed, decode_limits(limits));
  if (!doc) return std::move(doc).take_error();
  const Node root = doc->root();
  if (!root.is_dict()) return fail("top-level value is not a dictionary");
  auto info = root.find("info");
  if (!info) return fail("missing 'info' dictionary");

  Metainfo m;
  if (consumed != bytes.size()) {
    m.warnings.push_back("ignored " + std::to_string(bytes.size() - consumed) +
                         " bytes after the torrent's dictionary at byte " +
                         std::to_string(consumed));
  }
  if (auto ok = parse_info(*info, doc->canonical(), limits, m); !ok) {
    return std::move(ok).take_error();
  }
  parse_trackers(root, m);
  parse_web_seeds(root, m);
  m.comment = std::string(utf8_preferred(root, "comment.utf-8", "comment").value_or(""));
  m.created_by = std::string(root.find_string("created by").value_or(""));
  m.creation_date = root.find_int("creation date");
  return m;
}

Result<Metainfo> parse_info_dict(std::string_view info_bytes, const Sha1Hash& expected,
                                 const MetainfoLimits& limits) {
  const Sha1Hash actual = sha1(info_bytes);
  if (actual != expected) {
    return fail("info dictionary hashes to " + to_hex(actual) + ", expected " + to_hex(expected));
  }
  auto doc = bencode::decode(info_bytes, decode_limits(limits));
  if (!doc) return std::move(doc).take_error();
  Metainfo m;
  if (auto ok = parse_info(doc->root(), doc->canonical(), limits, m); !ok) {
    return std::move(ok).take_error();
  }
  return m;
}

Result<Metainfo> load_metainfo_file(const std::filesystem::path& path,
                                    const MetainfoLimits& limits) {
  const std::string where = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_errno_error(errno, where + ": cannot open: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_errno_error(errno, where + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return make_error(std::errc::is_a_directory, where + ": is a directory");
  const auto limit = limits.max_torrent_size;
  if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > limit) {
    return make_error(std::errc::value_too_large, where + ": " + std::to_string(st.st_size) +
                                                      " bytes, more than the limit of " +
                                                      std::to_string(limit) + " for a .torrent");
  }
  // Read at most limit + 1 bytes: pipes and /proc files report no size up front.
  std::string bytes;
  bytes.resize(S_ISREG(st.st_mode) ? static_cast<std::size_t>(st.st_size) + 1 : 64 * 1024);
  std::size_t have = 0;
  for (;;) {
    if (have == bytes.size()) bytes.resize(std::min(bytes.size() * 2, limit + 1));
    const ssize_t n = ::read(fd, bytes.data() + have, bytes.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_errno_error(errno, where + ": read failed: " + std::strerror(errno));
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
    if (have > limit) {
      return make_error(
          std::errc::value_too_large,
          where + ": more than the limit of " + std::to_string(limit) + " bytes for a .torrent");
    }
  }
  bytes.resize(have);
  auto m = parse_metainfo(bytes, limits);
  if (!m) {
    Error e = std::move(m).take_error();
    e.message = where + ": " + e.message;
    return e;
  }
  return m;
}

}  // namespace torfs
