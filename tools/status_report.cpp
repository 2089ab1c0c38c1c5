#include "tools/status_report.hpp"

#include <ctime>

#include "cache/sha1.hpp"
#include "engine/torrent_view.hpp"
#include "tools/json_writer.hpp"

namespace torfs::tools {
namespace {

TorrentStatus torrent_status(const MountedTorrent& mounted) {
  const TorrentView& view = *mounted.view;
  const Metainfo& meta = view.metainfo();
  const FileLayout& layout = meta.layout;
  const TorrentStats stats = view.stats();
  TorrentStatus t;
  t.name = mounted.name.empty() ? meta.name : mounted.name;
  t.info_hash = to_hex(meta.info_hash);
  t.total_bytes = stats.total_bytes;
  t.have_bytes = stats.have_bytes;
  t.piece_length = layout.piece_length();
  t.pieces_total = layout.num_pieces();
  t.download_rate = stats.download_rate;
  t.upload_rate = stats.upload_rate;
  t.peers = stats.peers;
  t.seeds = stats.seeds;
  t.web_seeds = stats.web_seeds;
  t.web_seed_downloaded = stats.web_seed_downloaded;
  t.downloaded = stats.downloaded;
  t.uploaded = stats.uploaded;
  t.total_downloaded = stats.total_downloaded;
  t.total_uploaded = stats.total_uploaded;
  for (std::uint32_t f = 0; f < layout.num_files(); ++f) {
    const FileEntry& e = layout.file(FileIndex(f));
    if (e.pad) continue;
    t.files.push_back({e.path, e.size, view.file_have_bytes(FileIndex(f))});
  }
  // Counted from the same snapshot as the bitfield, so the two always agree (stats() and
  // the per-piece reads are not atomic together while pieces arrive).
  t.bitfield.assign((t.pieces_total + 7) / 8, 0);
  for (std::uint32_t p = 0; p < t.pieces_total; ++p) {
    if (!view.have_piece(PieceIndex(p))) continue;
    t.bitfield[p / 8] |= static_cast<std::uint8_t>(0x80u >> (p % 8));
    ++t.pieces_have;
  }
  return t;
}

void write_torrent(JsonWriter& j, const TorrentStatus& t) {
  j.begin_object();
  j.field("name", t.name);
  j.field("info_hash", t.info_hash);
  j.field("total_bytes", t.total_bytes);
  j.field("have_bytes", t.have_bytes);
  j.field("progress", t.progress());
  j.field("piece_length", t.piece_length);
  j.field("pieces_total", t.pieces_total);
  j.field("pieces_have", t.pieces_have);
  j.field("download_rate", t.download_rate);
  j.field("upload_rate", t.upload_rate);
  j.field("peers", t.peers);
  j.field("seeds", t.seeds);
  j.field("web_seeds", t.web_seeds);
  j.field("web_seed_downloaded", t.web_seed_downloaded);
  j.field("downloaded", t.downloaded);
  j.field("uploaded", t.uploaded);
  j.field("total_downloaded", t.total_downloaded);
  j.field("total_uploaded", t.total_uploaded);
  j.key("ratio");
  if (const auto r = t.ratio()) {
    j.value(*r);
  } else {
    j.null();
  }
  j.key("files").begin_array();
  for (const FileStatus& f : t.files) {
    const double progress =
        f.size == 0 ? 1.0 : static_cast<double>(f.have_bytes) / static_cast<double>(f.size);
    j.begin_object()
        .field("path", f.path)
        .field("size", f.size)
        .field("have_bytes", f.have_bytes)
        .field("progress", progress)
        .end_object();
  }
  j.end_array();
  j.field("pieces", bitfield_to_hex(t.bitfield));
  j.end_object();
}

}  // namespace

double TorrentStatus::progress() const {
  if (total_bytes == 0) return 1.0;
  return static_cast<double>(std::min(have_bytes, total_bytes)) / static_cast<double>(total_bytes);
}

std::optional<double> TorrentStatus::ratio() const {
  if (total_downloaded == 0) return std::nullopt;
  return static_cast<double>(total_uploaded) / static_cast<double>(total_downloaded);
}

MountStatus build_mount_status(const std::vector<MountedTorrent>& torrents, const MountInfo& info) {
  MountStatus status;
  status.mount = info;
  status.now = static_cast<std::int64_t>(std::time(nullptr));
  status.torrents.reserve(torrents.size());
  for (const MountedTorrent& m : torrents) {
    if (m.view) status.torrents.push_back(torrent_status(m));
  }
  return status;
}

std::string status_to_json(const MountStatus& status, int indent) {
  JsonWriter j(indent);
  write_status_json(j, status);
  return j.str();
}

void write_status_json(JsonWriter& j, const MountStatus& status) {
  j.begin_object();
  j.field("version", status.version);
  j.field("mountpoint", status.mount.mountpoint);
  j.field("pid", status.mount.pid);
  j.field("listen_port", status.mount.listen_port);
  j.field("started", status.mount.started);
  j.field("now", status.now);
  j.key("torrents").begin_array();
  for (const TorrentStatus& t : status.torrents)
    write_torrent(j, t);
  j.end_array();
  j.end_object();
}

std::string bitfield_to_hex(const std::vector<std::uint8_t>& bits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bits.size() * 2);
  for (std::uint8_t b : bits) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> bitfield_from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::uint8_t> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

}  // namespace torfs::tools
