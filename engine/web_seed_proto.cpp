#include "engine/web_seed_proto.hpp"

#include <charconv>

namespace torfs::web_seed {
namespace {

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

Error bad(std::string what) {
  return make_error(std::errc::protocol_error, std::move(what));
}

// Shortens a foreign header value for an error message.
std::string quoted(std::string_view value) {
  std::string out = "'";
  for (char c : value.substr(0, 80))
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out + (value.size() > 80 ? "...'" : "'");
}

std::optional<std::uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;  // 19 digits never overflow 64 bits
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string encode_path_element(std::string_view element) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(element.size());
  for (unsigned char c : element) {
    if (unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string file_url(std::string_view base, const FileLayout& layout, FileIndex file,
                     bool multi_file, const OriginalPaths* original) {
  std::vector<std::string_view> elements;
  if (original && file.value() < original->size()) {
    for (const std::string& e : (*original)[file.value()]) {
      if (!e.empty() && e != "." && e != "..") elements.push_back(e);
    }
  }
  const std::string& path = layout.file(file).path;
  if (elements.empty()) {  // the sanitized path: its elements are never "", "." or ".."
    for (std::size_t start = 0; start <= path.size();) {
      const std::size_t end = std::min(path.find('/', start), path.size());
      elements.push_back(std::string_view(path).substr(start, end - start));
      start = end + 1;
    }
  }
  const bool slash = !base.empty() && base.back() == '/';
  if (!multi_file) {
    return slash ? std::string(base) + encode_path_element(elements.front()) : std::string(base);
  }
  std::string url(base);
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i != 0 || !slash) url += '/';
    url += encode_path_element(elements[i]);
  }
  return url;
}

std::vector<FileRequest> plan_fetch(std::string_view base, const FileLayout& layout,
                                    bool multi_file, std::uint64_t offset, std::uint64_t length,
                                    const OriginalPaths* original) {
  std::vector<FileRequest> out;
  std::uint64_t at = 0;
  for (const FileSlice& s : layout.map_range(offset, length)) {
    const FileEntry& entry = layout.file(s.file);
    FileRequest r;
    r.pad = entry.pad;
    if (!r.pad) r.url = file_url(base, layout, s.file, multi_file, original);
    r.file = s.file;
    r.file_size = entry.size;
    r.file_offset = s.file_offset;
    r.length = s.length;
    r.buffer_offset = at;
    at += s.length;
    out.push_back(std::move(r));
  }
  return out;
}

std::string range_header(const FileRequest& request) {
  return "bytes=" + std::to_string(request.file_offset) + "-" +
         std::to_string(request.file_offset + request.length - 1);
}

Result<ContentRange> parse_content_range(std::string_view value) {
  std::string_view v = trim(value);
  constexpr std::string_view kUnit = "bytes ";
  if (v.size() < kUnit.size() || v.substr(0, kUnit.size()) != kUnit) {
    return bad("Content-Range " + quoted(value) + " does not start with 'bytes '");
  }
  v = trim(v.substr(kUnit.size()));
  const std::size_t dash = v.find('-');
  const std::size_t slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return bad("Content-Range " + quoted(value) + " is not 'bytes first-last/total'");
  }
  const auto first = parse_number(v.substr(0, dash));
  const auto last = parse_number(v.substr(dash + 1, slash - dash - 1));
  if (!first || !last || *last < *first) {
    return bad("Content-Range " + quoted(value) + " has an invalid byte range");
  }
  ContentRange r{*first, *last, std::nullopt};
  const std::string_view total = v.substr(slash + 1);
  if (total != "*") {
    r.total = parse_number(total);
    if (!r.total || *r.total <= *last) {
      return bad("Content-Range " + quoted(value) + " has an invalid total size");
    }
  }
  return r;
}

Result<void> check_response(const ResponseHead& head, const FileRequest& request) {
  const std::uint64_t last = request.file_offset + request.length - 1;
  if (head.status != 200 && head.status != 206) {
    return bad("HTTP status " + std::to_string(head.status));
  }
  if (head.content_length && *head.content_length != request.length) {
    return bad("HTTP status " + std::to_string(head.status) + " with Content-Length " +
               std::to_string(*head.content_length) + ", expected " +
               std::to_string(request.length));
  }
  if (head.status == 200) {
    if (request.file_offset != 0 || request.length != request.file_size) {
      return bad("HTTP status 200 (ranges not supported?) for bytes " +
                 std::to_string(request.file_offset) + "-" + std::to_string(last) + " of a " +
                 std::to_string(request.file_size) + "-byte file");
    }
    return Result<void>{};
  }
  if (!head.content_range) return bad("HTTP status 206 without Content-Range");
  auto range = parse_content_range(*head.content_range);
  if (!range) return std::move(range).take_error();
  if (range->first != request.file_offset || range->last != last ||
      (range->total && *range->total != request.file_size)) {
    return bad("Content-Range " + quoted(*head.content_range) + " does not match the request " +
               range_header(request) + " of a " + std::to_string(request.file_size) + "-byte file");
  }
  return Result<void>{};
}

}  // namespace torfs::web_seed
