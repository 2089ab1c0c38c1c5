// parse_status_json: the client side of the status document. The JSON grammar itself is left
// to Boost.JSON (header-only here, in this one translation unit; depth-limited), which is
// fuzzed upstream; this file only walks the resulting tree with type and range checks.
#include <boost/json/src.hpp>
#include <cmath>
#include <limits>

#include "tools/status_report.hpp"

namespace torfs::tools {
namespace {

namespace json = boost::json;

Error bad(const std::string& where, const std::string& what) {
  return make_error(std::errc::invalid_argument, "bad status document: " + where + " " + what);
}

// Typed field readers: each returns an Error naming `where.key` when the field is missing or
// has the wrong type / range.
class Fields {
 public:
  Fields(const json::object& o, std::string where) : o_(o), where_(std::move(where)) {}

  Result<const json::value*> get(std::string_view key) const {
    const json::value* v = o_.if_contains(key);
    if (!v) return bad(at(key), "is missing");
    return v;
  }
  Result<std::string> string(std::string_view key) const {
    auto v = get(key);
    if (!v) return std::move(v).take_error();
    if (!(*v)->is_string()) return bad(at(key), "is not a string");
    return std::string((*v)->get_string());
  }
  Result<std::uint64_t> uint(std::string_view key,
                             std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) const {
    auto v = get(key);
    if (!v) return std::move(v).take_error();
    std::uint64_t n;
    if ((*v)->is_uint64()) {
      n = (*v)->get_uint64();
    } else if ((*v)->is_int64() && (*v)->get_int64() >= 0) {
      n = static_cast<std::uint64_t>((*v)->get_int64());
    } else {
      return bad(at(key), "is not a non-negative integer");
    }
    if (n > max) return bad(at(key), "is too large (" + std::to_string(n) + ")");
    return n;
  }
  // A field newer mounts send: absent (a mount of an earlier torfs) reads as 0.
  Result<std::uint64_t> optional_uint(
      std::string_view key, std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) const {
    if (!o_.if_contains(key)) return std::uint64_t{0};
    return uint(key, max);
  }
  Result<std::int64_t> sint(std::string_view key) const {
    auto v = get(key);
    if (!v) return std::move(v).take_error();
    if (!(*v)->is_int64()) return bad(at(key), "is not an integer");
    return (*v)->get_int64();
  }
  Result<double> number(std::string_view key) const {
    auto v = get(key);
    if (!v) return std::move(v).take_error();
    double d;
    if ((*v)->is_double()) {
      d = (*v)->get_double();
    } else if ((*v)->is_int64()) {
      d = static_cast<double>((*v)->get_int64());
    } else if ((*v)->is_uint64()) {
      d = static_cast<double>((*v)->get_uint64());
    } else {
      return bad(at(key), "is not a number");
    }
    if (!std::isfinite(d) || d < 0) return bad(at(key), "is not a non-negative number");
    return d;
  }
  Result<const json::array*> array(std::string_view key) const {
    auto v = get(key);
    if (!v) return std::move(v).take_error();
    if (!(*v)->is_array()) return bad(at(key), "is not an array");
    return &(*v)->get_array();
  }
  std::string at(std::string_view key) const { return where_ + "." + std::string(key); }

 private:
  const json::object& o_;
  std::string where_;
};

// Assigns *r to out or returns its error from the enclosing function.
#define TORFS_TAKE(out, expr)                         \
  do {                                                \
    auto r_ = (expr);                                 \
    if (!r_) return std::move(r_).take_error();       \
    out = static_cast<decltype(out)>(std::move(*r_)); \
  } while (0)

constexpr std::uint64_t kMaxU32 = std::numeric_limits<std::uint32_t>::max();

Result<FileStatus> parse_file(const json::value& v, const std::string& where) {
  if (!v.is_object()) return bad(where, "is not an object");
  const Fields f(v.get_object(), where);
  FileStatus file;
  TORFS_TAKE(file.path, f.string("path"));
  TORFS_TAKE(file.size, f.uint("size"));
  TORFS_TAKE(file.have_bytes, f.uint("have_bytes", file.size));
  return file;
}

Result<TorrentStatus> parse_torrent(const json::value& v, const std::string& where,
                                    std::size_t& files_left) {
  if (!v.is_object()) return bad(where, "is not an object");
  const Fields f(v.get_object(), where);
  TorrentStatus t;
  TORFS_TAKE(t.name, f.string("name"));
  TORFS_TAKE(t.info_hash, f.string("info_hash"));
  TORFS_TAKE(t.total_bytes, f.uint("total_bytes"));
  TORFS_TAKE(t.have_bytes, f.uint("have_bytes", t.total_bytes));
  TORFS_TAKE(t.piece_length, f.uint("piece_length", kMaxU32));
  TORFS_TAKE(t.pieces_total, f.uint("pieces_total", kMaxU32));
  TORFS_TAKE(t.pieces_have, f.uint("pieces_have", t.pieces_total));
  TORFS_TAKE(t.download_rate, f.number("download_rate"));
  TORFS_TAKE(t.upload_rate, f.number("upload_rate"));
  TORFS_TAKE(t.peers, f.uint("peers", kMaxU32));
  TORFS_TAKE(t.seeds, f.uint("seeds", kMaxU32));
  TORFS_TAKE(t.web_seeds, f.optional_uint("web_seeds", kMaxU32));
  TORFS_TAKE(t.web_seed_downloaded, f.optional_uint("web_seed_downloaded"));
  TORFS_TAKE(t.downloaded, f.uint("downloaded"));
  TORFS_TAKE(t.uploaded, f.uint("uploaded"));
  TORFS_TAKE(t.total_downloaded, f.uint("total_downloaded"));
  TORFS_TAKE(t.total_uploaded, f.uint("total_uploaded"));
  std::string hex;
  TORFS_TAKE(hex, f.string("pieces"));
  auto bits = bitfield_from_hex(hex);
  if (!bits || bits->size() != (std::size_t{t.pieces_total} + 7) / 8) {
    return bad(f.at("pieces"),
               "is not a hex bitfield of " + std::to_string(t.pieces_total) + " pieces");
  }
  t.bitfield = std::move(*bits);
  const json::array* files = nullptr;
  TORFS_TAKE(files, f.array("files"));
  if (files->size() > files_left) return bad(f.at("files"), "has too many entries");
  files_left -= files->size();
  for (std::size_t i = 0; i < files->size(); ++i) {
    auto file = parse_file((*files)[i], f.at("files") + "[" + std::to_string(i) + "]");
    if (!file) return std::move(file).take_error();
    t.files.push_back(std::move(*file));
  }
  return t;
}

}  // namespace

Result<MountStatus> parse_status_json(std::string_view text, const StatusParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return make_error(std::errc::value_too_large,
                      "status document of " + std::to_string(text.size()) +
                          " bytes is over the limit of " + std::to_string(limits.max_bytes));
  }
  json::parse_options options;
  options.max_depth = limits.max_depth;
  boost::system::error_code ec;
  const json::value root =
      json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  if (ec) return bad("text", "is not valid JSON (" + ec.message() + ")");
  if (!root.is_object()) return bad("document", "is not an object");
  const Fields f(root.get_object(), "document");
  MountStatus status;
  TORFS_TAKE(status.version, f.uint("version", 1'000'000));
  if (status.version != kStatusVersion) {
    return bad(f.at("version"), std::to_string(status.version) + " is not the supported " +
                                    std::to_string(kStatusVersion));
  }
  TORFS_TAKE(status.mount.mountpoint, f.string("mountpoint"));
  TORFS_TAKE(status.mount.pid, f.sint("pid"));
  TORFS_TAKE(status.mount.listen_port, f.uint("listen_port", 65535));
  TORFS_TAKE(status.mount.started, f.sint("started"));
  TORFS_TAKE(status.now, f.sint("now"));
  const json::array* torrents = nullptr;
  TORFS_TAKE(torrents, f.array("torrents"));
  if (torrents->size() > limits.max_torrents) return bad(f.at("torrents"), "has too many entries");
  std::size_t files_left = limits.max_files;
  for (std::size_t i = 0; i < torrents->size(); ++i) {
    auto t = parse_torrent((*torrents)[i], "torrents[" + std::to_string(i) + "]", files_left);
    if (!t) return std::move(t).take_error();
    status.torrents.push_back(std::move(*t));
  }
  return status;
}

}  // namespace torfs::tools
