// Turns the path element lists of a .torrent into safe relative paths below the torrent's
// root: nothing a torrent says can name a path outside it, and every file gets a distinct
// path that can exist on Linux next to the others.
//
// Rules (each change adds one human-readable warning):
// - "", "." and ".." elements are dropped (an absolute path arrives as a leading "" element);
//   a path left with no element becomes "_".
// - NUL, '/' and '\' inside an element become '_'; so does each byte of an invalid UTF-8
//   sequence (overlong forms, surrogates and code points above U+10FFFF are invalid).
// - An element over NAME_MAX (255 bytes) is cut at a UTF-8 boundary, keeping an extension of
//   up to 32 bytes.
// - Case, spaces, control characters other than NUL and Windows-reserved characters are kept:
//   they are valid on Linux and renaming them would break torrents made there.
// - Duplicate files and a file whose path is also a directory of another file are renamed by
//   inserting ".N" before the extension of the last element ("a.txt" -> "a.1.txt"), with the
//   smallest N not used by any path in the torrent. Directories are never renamed, so the
//   renamed entry is always the file. Earlier files keep their names.
// - Pad files (BEP 47) are sanitized but not part of the uniqueness rules: they are never
//   stored nor shown, and many of them legitimately share one path (".pad/16384").
// Pure functions; no I/O; deterministic (same input, same output).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace torfs {

inline constexpr std::size_t kNameMax = 255;

// Length in bytes of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);
bool is_valid_utf8(std::string_view s);

// Bytes made safe for a message: valid printable UTF-8 kept, control bytes, quotes,
// backslashes and invalid bytes shown as \xNN, cut after max_bytes with "...".
std::string printable(std::string_view bytes, std::size_t max_bytes = 200);

// One element. nullopt when it must be dropped ("", ".", ".."); otherwise a non-empty name
// without '/', NUL or invalid UTF-8, at most kNameMax bytes, never "." or "..". Each change
// appends a short reason ("replaced '/'", ...) to `reasons`.
std::optional<std::string> sanitize_element(std::string_view element,
                                            std::vector<std::string>& reasons);

// The torrent's name (one element). When it must be dropped, `fallback` (assumed safe, e.g.
// a hex info-hash prefix) is used instead. Warnings start with "name ".
std::string sanitize_name(std::string_view name, std::string_view fallback,
                          std::vector<std::string>& warnings);

struct PathInput {
  std::vector<std::string_view> elements;  // as in the torrent's "path" list
  bool pad = false;
};

// Multi-file paths: "root/<sanitized elements>" for every input, in order, distinct (except
// pad files). `root` must already be sanitized. Warnings name the file index and both paths;
// at most `max_warnings` are added, then one "... and N more" line (a hostile torrent with a
// million duplicates must not cost a million messages).
std::vector<std::string> sanitize_file_paths(std::string_view root,
                                             const std::vector<PathInput>& files,
                                             std::vector<std::string>& warnings,
                                             std::size_t max_warnings = 1000);

}  // namespace torfs
