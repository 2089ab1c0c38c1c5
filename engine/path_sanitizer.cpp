#include "engine/path_sanitizer.hpp"

#include <deque>
#include <unordered_map>
#include <unordered_set>

namespace torfs {
namespace {

constexpr std::size_t kMaxExtension = 32;  // longer "extensions" are just part of the name

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Where the extension of a valid-UTF-8 element starts (its last '.', not a leading one),
// or name.size() when it has none worth keeping.
std::size_t extension_start(std::string_view name) {
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || name.size() - dot > kMaxExtension) {
    return name.size();
  }
  return dot;
}

// stem + insert + extension, the stem cut (at a UTF-8 boundary) so the result fits kNameMax.
std::string fit_name(std::string_view name, std::string_view insert) {
  const std::size_t ext = extension_start(name);
  std::string_view stem = name.substr(0, ext);
  const std::size_t tail = insert.size() + (name.size() - ext);
  if (stem.size() + tail > kNameMax) {
    std::size_t keep = kNameMax - tail;
    while (keep > 0 && is_continuation(stem[keep]))
      --keep;
    stem = stem.substr(0, keep);
  }
  std::string out(stem);
  out += insert;
  out += name.substr(ext);
  return out;
}

std::string raw_path(const std::vector<std::string_view>& elements) {
  std::string out;
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i) out.push_back('/');
    out += elements[i];
  }
  return out;
}

std::string join_reasons(const std::vector<std::string>& reasons) {
  std::string out;
  for (const auto& r : reasons) {
    if (!out.empty()) out += "; ";
    out += r;
  }
  return out;
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  std::size_t n;
  std::uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;  // a continuation byte, an overlong 2-byte lead (C0, C1) or beyond U+10FFFF
  }
  if (s.size() - i < n) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if (!is_continuation(s[i + k])) return 0;
    cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return n;
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string printable(std::string_view bytes, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  std::size_t i = 0;
  while (i < bytes.size() && i < max_bytes) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    const std::size_t n = utf8_sequence_length(bytes, i);
    if (n > 1 || (n == 1 && c >= 0x20 && c != 0x7f && c != '\'' && c != '\\')) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
      ++i;
    }
  }
  if (i < bytes.size()) out += "...";
  return out;
}

std::optional<std::string> sanitize_element(std::string_view element,
                                            std::vector<std::string>& reasons) {
  if (element.empty() || element == "." || element == "..") {
    reasons.push_back(element.empty() ? "dropped an empty element"
                                      : "dropped a '" + std::string(element) + "' element");
    return std::nullopt;
  }
  std::string out;
  out.reserve(element.size());
  bool separator = false, nul = false, bad_utf8 = false;
  for (std::size_t i = 0; i < element.size();) {
    const char c = element[i];
    const std::size_t n = utf8_sequence_length(element, i);
    if (n == 0 || c == '/' || c == '\\' || c == '\0') {
      if (n == 0) {
        bad_utf8 = true;
      } else if (c == '\0') {
        nul = true;
      } else {
        separator = true;
      }
      out.push_back('_');
      ++i;
    } else {
      out.append(element.substr(i, n));
      i += n;
    }
  }
  if (separator) reasons.push_back("replaced '/' or '\\' with '_'");
  if (nul) reasons.push_back("replaced NUL with '_'");
  if (bad_utf8) reasons.push_back("replaced invalid UTF-8 with '_'");
  if (out.size() > kNameMax) {
    reasons.push_back("cut an element of " + std::to_string(out.size()) + " bytes to " +
                      std::to_string(kNameMax));
    out = fit_name(out, "");
  }
  return out;
}

std::string sanitize_name(std::string_view name, std::string_view fallback,
                          std::vector<std::string>& warnings) {
  std::vector<std::string> reasons;
  auto safe = sanitize_element(name, reasons);
  if (!safe) {
    warnings.push_back("name '" + printable(name) + "' cannot be used, using '" +
                       std::string(fallback) + "' instead");
    return std::string(fallback);
  }
  if (!reasons.empty()) {
    warnings.push_back("name '" + printable(name) + "' became '" + printable(*safe) + "' (" +
                       join_reasons(reasons) + ")");
  }
  return std::move(*safe);
}

namespace {

// Adds up to `max` warnings, counting the rest for one closing line.
class WarningSink {
 public:
  WarningSink(std::vector<std::string>& out, std::size_t max) : out_(out), max_(max) {}
  ~WarningSink() {
    if (dropped_) out_.push_back("... and " + std::to_string(dropped_) + " more path changes");
  }
  bool wanted() {
    if (added_ < max_) return ++added_, true;
    return ++dropped_, false;
  }
  void add(std::string w) { out_.push_back(std::move(w)); }

 private:
  std::vector<std::string>& out_;
  std::size_t max_, added_ = 0, dropped_ = 0;
};

// Needs no change (the common case): appended as it is, without allocating.
bool is_clean(std::string_view element) {
  if (element.empty() || element == "." || element == ".." || element.size() > kNameMax) {
    return false;
  }
  for (const char ch : element) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0 || c == '/' || c == '\\' || c >= 0x80) return false;
  }
  return true;
}

// Renames duplicate files and files that are also directories (see the header). The sets hold
// views into `paths`, so renamed paths are kept aside and stored only at the end.
void make_unique(std::string_view root, const std::vector<PathInput>& files,
                 std::vector<std::string>& paths, WarningSink& sink) {
  // Every directory any stored file needs, and every path the torrent itself names: a renamed
  // file must take none of them.
  std::unordered_set<std::string_view> dirs, taken, used;
  dirs.reserve(files.size());
  taken.reserve(files.size());
  used.reserve(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (files[i].pad) continue;
    const std::string_view p = paths[i];
    for (std::size_t slash = p.find('/', root.size() + 1); slash != std::string_view::npos;
         slash = p.find('/', slash + 1)) {
      dirs.insert(p.substr(0, slash));
    }
    taken.insert(p);
  }
  std::deque<std::string> renamed;  // stable addresses for the views in the sets
  std::vector<std::pair<std::size_t, const std::string*>> renames;
  // Resumes per clashing path, so n duplicates of one name cost O(n), not O(n^2).
  std::unordered_map<std::string_view, std::size_t> next_counter;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (files[i].pad) continue;
    const std::string_view p = paths[i];
    const bool is_dir = dirs.count(p) > 0;
    if (!is_dir && used.insert(p).second) continue;
    const std::size_t slash = p.rfind('/');
    std::size_t& n = next_counter[p];
    std::string candidate;
    do {
      candidate = std::string(p.substr(0, slash + 1)) +
                  fit_name(p.substr(slash + 1), "." + std::to_string(++n));
    } while (taken.count(candidate) || dirs.count(candidate) || used.count(candidate));
    const std::string& stored = renamed.emplace_back(std::move(candidate));
    taken.insert(stored);
    used.insert(stored);
    renames.emplace_back(i, &stored);
    if (sink.wanted()) {
      sink.add("file " + std::to_string(i) + ": path '" + printable(p) + "' " +
               (is_dir ? "is also a directory" : "duplicates an earlier file") + ", renamed to '" +
               printable(stored) + "'");
    }
  }
  for (const auto& [i, name] : renames)
    paths[i] = *name;
}

}  // namespace

std::vector<std::string> sanitize_file_paths(std::string_view root,
                                             const std::vector<PathInput>& files,
                                             std::vector<std::string>& warnings,
                                             std::size_t max_warnings) {
  WarningSink sink(warnings, max_warnings);
  std::vector<std::string> paths;
  paths.reserve(files.size());
  std::vector<std::string> reasons;
  for (std::size_t i = 0; i < files.size(); ++i) {
    std::string& path = paths.emplace_back(root);
    reasons.clear();
    bool any = false;
    for (auto element : files[i].elements) {
      if (is_clean(element)) {
        path += '/';
        path += element;
        any = true;
      } else if (auto safe = sanitize_element(element, reasons)) {
        path += '/';
        path += *safe;
        any = true;
      }
    }
    if (!any) {
      reasons.push_back("no element left, named '_'");
      path += "/_";
    }
    if (!reasons.empty() && sink.wanted()) {
      sink.add("file " + std::to_string(i) + ": path '" + printable(raw_path(files[i].elements)) +
               "' became '" + printable(path) + "' (" + join_reasons(reasons) + ")");
    }
  }
  make_unique(root, files, paths, sink);
  return paths;
}

}  // namespace torfs
