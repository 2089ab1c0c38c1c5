// The status document of a running mount: what `torfs status` shows.
//
// The mount process builds a MountStatus from its torrents (build_mount_status) and sends it as
// JSON (status_to_json) over its control channel; the client parses it back (parse_status_json)
// and renders text, JSON or a PNG from the same structure. The JSON schema is documented in
// docs/cli.md ("torfs status"); `version` changes when a field changes meaning.
//
// Thread safety: free functions over values; build_mount_status only calls TorrentView members,
// which are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/result.hpp"
#include "tools/mounted_torrents.hpp"

namespace torfs::tools {

inline constexpr int kStatusVersion = 1;

struct FileStatus {
  std::string path;  // as in the torrent ("name/dir/file"; a single-file torrent: "name")
  std::uint64_t size = 0;
  std::uint64_t have_bytes = 0;
};

struct TorrentStatus {
  std::string name;       // the directory name in the mount (or the torrent's name)
  std::string info_hash;  // 40 hex digits
  std::uint64_t total_bytes = 0;
  std::uint64_t have_bytes = 0;
  std::uint32_t piece_length = 0;
  std::uint32_t pieces_total = 0;
  std::uint32_t pieces_have = 0;
  double download_rate = 0;  // bytes/s
  double upload_rate = 0;
  std::uint32_t peers = 0;
  std::uint32_t seeds = 0;
  std::uint32_t web_seeds = 0;            // web seeds fetching now
  std::uint64_t web_seed_downloaded = 0;  // this session, part of `downloaded`
  std::uint64_t downloaded = 0;           // this session
  std::uint64_t uploaded = 0;
  std::uint64_t total_downloaded = 0;  // all time
  std::uint64_t total_uploaded = 0;
  std::vector<FileStatus> files;  // pad files left out
  // Piece completion, one bit per piece, most significant bit of byte 0 = piece 0 (the
  // BitTorrent bitfield order); exactly (pieces_total + 7) / 8 bytes, spare bits zero.
  std::vector<std::uint8_t> bitfield;

  bool have_piece(std::uint32_t piece) const {
    return piece < pieces_total && (bitfield[piece / 8] >> (7 - piece % 8) & 1) != 0;
  }
  // have_bytes / total_bytes in [0, 1] (1 for an empty torrent).
  double progress() const;
  // total_uploaded / total_downloaded; nullopt when nothing was ever downloaded.
  std::optional<double> ratio() const;
};

struct MountInfo {
  std::string mountpoint;
  std::int64_t pid = 0;
  std::uint32_t listen_port = 0;
  std::int64_t started = 0;  // Unix time the mount went live
};

struct MountStatus {
  int version = kStatusVersion;
  MountInfo mount;
  std::int64_t now = 0;  // Unix time of the snapshot
  std::vector<TorrentStatus> torrents;
};

// One snapshot of every torrent. Reads each view's stats, per-file verified bytes and
// have_piece() for every piece (cost: O(pieces + files) per torrent).
MountStatus build_mount_status(const std::vector<MountedTorrent>& torrents, const MountInfo& info);

class JsonWriter;
// JSON text of the document. indent 0: one line (the wire format; also --watch --json).
std::string status_to_json(const MountStatus& status, int indent = 0);
// The same document as one value of a larger JSON text (e.g. the list of every mount).
void write_status_json(JsonWriter& out, const MountStatus& status);

// Limits for parsing a document that arrived from a socket.
struct StatusParseLimits {
  std::size_t max_bytes = 64u << 20;
  std::size_t max_depth = 16;
  std::size_t max_torrents = 100'000;
  std::size_t max_files = 4'000'000;  // over all torrents
};

// Parses status_to_json() output. Fails (naming the field) on malformed JSON, a missing field
// or one of the wrong type, a bitfield that does not match pieces_total, or a limit exceeded.
// Unknown fields are ignored (a newer server may add some).
Result<MountStatus> parse_status_json(std::string_view text, const StatusParseLimits& limits = {});

// Helpers shared with the renderers and tests.
std::string bitfield_to_hex(const std::vector<std::uint8_t>& bits);
std::optional<std::vector<std::uint8_t>> bitfield_from_hex(std::string_view hex);

}  // namespace torfs::tools
