// CompletionStore: which pieces of which torrents are verified and durable on disk, kept in
// one SQLite database per process (WAL) and shared by all its torrents. Schema and reasoning:
// docs/sqlite-schema.md.
//
// ORDER CONTRACT (the reason this store can be trusted): a caller makes a piece's data durable
// (DataStore::sync()) BEFORE it passes the piece to commit_pieces(). A row in `pieces` then
// always describes bytes that are on disk; a crash or power loss at any moment costs at most a
// re-download of pieces whose rows had not committed yet, never a wrong byte served as verified.
//
// Robustness: a database that is garbage, truncated, empty or from an unknown newer schema is
// moved aside (db_path + ".corrupt-<unix time>") and replaced by a fresh one; was_reset() tells
// the caller, who then re-verifies the data on disk and says so. Two processes may share the
// file: every write is one BEGIN IMMEDIATE transaction and waits up to 5 s for the lock.
//
// Thread safety: every member may be called from any thread; calls are serialized by an
// internal mutex over a single connection with cached prepared statements.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/index.hpp"
#include "cache/result.hpp"
#include "cache/sha1.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace torfs {

using TorrentId = std::int64_t;

// Identity and geometry of a torrent in one data dir.
struct TorrentRecord {
  Sha1Hash info_hash{};
  std::string data_dir;  // absolute path of the torrent's data dir
  std::string name;
  std::uint64_t total_size = 0;
  std::uint32_t piece_length = 0;
  std::uint32_t num_pieces = 0;
};

// A data file's state when completion was last committed (to notice changes behind our back).
struct FileRecord {
  FileIndex file;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  friend bool operator==(const FileRecord&, const FileRecord&) = default;
};

struct StoredTorrent {
  TorrentId id = 0;
  TorrentRecord record;
  std::uint64_t uploaded = 0;  // payload bytes, all sessions
  std::uint64_t downloaded = 0;
  std::uint32_t pieces_have = 0;
  std::int64_t added_at = 0;  // unix seconds
  std::int64_t last_seen_at = 0;
};

class CompletionStore {
 public:
  static constexpr int kSchemaVersion = 1;

  // Opens or creates the database (parent dir created 0700 via safe_fs::ensure_private_dir,
  // file 0600). Fails only when the directory or file cannot be used at all (permissions, a
  // planted symlink, disk full); corrupt content is reset instead (see above).
  static Result<std::unique_ptr<CompletionStore>> open(std::filesystem::path db_path);
  ~CompletionStore();
  CompletionStore(const CompletionStore&) = delete;
  CompletionStore& operator=(const CompletionStore&) = delete;

  // True when open() found an unusable database and started afresh; reset_reason() says why
  // and where the old file went.
  bool was_reset() const { return !reset_reason_.empty(); }
  const std::string& reset_reason() const { return reset_reason_; }
  const std::filesystem::path& path() const { return path_; }

  // Finds or creates the row for (info_hash, data_dir) and returns its id. An existing row
  // whose geometry (total_size, piece_length, num_pieces) differs loses its pieces and files.
  Result<TorrentId> upsert_torrent(const TorrentRecord& record);
  // Every verified piece of the torrent, ascending, in one query.
  Result<std::vector<PieceIndex>> load_pieces(TorrentId id);
  Result<std::vector<FileRecord>> load_files(TorrentId id);
  // In ONE transaction: marks `pieces` verified and records the current state of `files`.
  // Callers must have made the pieces durable first (see ORDER CONTRACT). Fails without
  // changing anything if a piece index is out of range.
  Result<void> commit_pieces(TorrentId id, std::span<const PieceIndex> pieces,
                             std::span<const FileRecord> files);
  // Forgets pieces (evicted, or found bad after their files changed).
  Result<void> remove_pieces(TorrentId id, std::span<const PieceIndex> pieces);
  // Cache eviction: forgets `pieces` in ONE transaction that is durable when this returns (the
  // commit runs with synchronous = FULL, so the WAL is fsync'ed and a power loss cannot bring
  // the rows back). The ORDER CONTRACT in reverse: callers call this BEFORE freeing the pieces'
  // bytes (DataStore::punch), so a row never outlives the bytes it vouches for.
  Result<void> evict_pieces(TorrentId id, std::span<const PieceIndex> pieces);
  // Forgets a torrent and everything about it.
  Result<void> remove_torrent(TorrentId id);

  // The info dictionary's bytes (for magnets: metadata fetched once is kept).
  Result<void> set_metainfo(TorrentId id, std::string_view info_bytes);
  Result<std::optional<std::string>> metainfo_for(const Sha1Hash& info_hash);

  // Adds to the torrent's all-time transfer totals.
  Result<void> add_transfer(TorrentId id, std::uint64_t uploaded, std::uint64_t downloaded);
  Result<std::vector<StoredTorrent>> list_torrents();
  // The row list_torrents() would return for `id` (totals, piece count...) in one indexed
  // query; nullopt when no torrent has that id (never added, or removed).
  Result<std::optional<StoredTorrent>> find_torrent(TorrentId id);

  Result<std::optional<std::string>> get_setting(std::string_view key);
  Result<void> set_setting(std::string_view key, std::string_view value);

 private:
  CompletionStore(sqlite3* db, std::filesystem::path path, std::string reset_reason);
  // A cached prepared statement for `sql` (a string literal: cached by address), reset and
  // with bindings cleared.
  Result<sqlite3_stmt*> prepare(const char* sql);
  Result<void> exec(const char* sql);
  // Runs a cached statement that returns no rows, binding `args` to ?1, ?2, ...
  template <class... Args>
  Result<void> run(const char* sql, const Args&... args);
  // Runs a cached query, calling row(stmt) for each result row.
  template <class Row, class... Args>
  Result<void> query(const char* sql, Row&& row, const Args&... args);
  Result<void> in_transaction(const std::function<Result<void>()>& body);
  Error db_error(const std::string& what) const;

  sqlite3* db_;
  const std::filesystem::path path_;
  const std::string reset_reason_;
  std::mutex mutex_;
  std::vector<std::pair<const char*, sqlite3_stmt*>> statements_;
};

}  // namespace torfs
