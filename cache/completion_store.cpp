#include "cache/completion_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "cache/safe_fs.hpp"

namespace torfs {
namespace {

// Version 1. Every statement is idempotent so a half-created schema can be completed.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS torrents(
  id INTEGER PRIMARY KEY,
  info_hash BLOB NOT NULL CHECK(length(info_hash) = 20),
  data_dir TEXT NOT NULL,
  name TEXT NOT NULL,
  total_size INTEGER NOT NULL,
  piece_length INTEGER NOT NULL,
  num_pieces INTEGER NOT NULL,
  metainfo BLOB,
  added_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  uploaded INTEGER NOT NULL DEFAULT 0,
  downloaded INTEGER NOT NULL DEFAULT 0,
  UNIQUE(info_hash, data_dir));
CREATE TABLE IF NOT EXISTS pieces(
  torrent_id INTEGER NOT NULL REFERENCES torrents(id) ON DELETE CASCADE,
  piece INTEGER NOT NULL,
  PRIMARY KEY(torrent_id, piece)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files(
  torrent_id INTEGER NOT NULL REFERENCES torrents(id) ON DELETE CASCADE,
  file_index INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  PRIMARY KEY(torrent_id, file_index)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL) WITHOUT ROWID;
)sql";

// migrations[v] upgrades a database at user_version v to v + 1.
constexpr const char* kMigrations[] = {kSchemaV1};
static_assert(std::size(kMigrations) == CompletionStore::kSchemaVersion);

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

std::errc errc_for(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return std::errc::no_space_on_device;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return std::errc::device_or_resource_busy;
    case SQLITE_READONLY:
      return std::errc::read_only_file_system;
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return std::errc::permission_denied;
    case SQLITE_CANTOPEN:
      return std::errc::no_such_file_or_directory;
    default:
      return std::errc::io_error;
  }
}

bool is_corruption(int rc) {
  return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

// Result of inspecting an existing database file while holding the creation lock.
struct Inspected {
  sqlite3* db = nullptr;  // usable connection, or null
  std::string corrupt;    // non-empty: the file must be moved aside, and why
};

class Connection {
 public:
  explicit Connection(sqlite3* db) : db_(db) {}
  ~Connection() { sqlite3_close_v2(db_); }
  sqlite3* release() { return std::exchange(db_, nullptr); }
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_;
};

int exec_rc(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
}

Error sqlite_error(sqlite3* db, int rc, const std::string& what, const std::filesystem::path& p) {
  return make_error(errc_for(rc), what + " " + p.string() + ": " +
                                      (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

// Runs one single-value query; returns the rc of the step that failed, or SQLITE_ROW.
int query_text(sqlite3* db, const char* sql, std::string& out) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(stmt, 0);
    out = text ? reinterpret_cast<const char*>(text) : "";
  }
  sqlite3_finalize(stmt);
  return rc;
}

// Brings the schema of an open, structurally sound database to kSchemaVersion.
int migrate(sqlite3* db, int from) {
  int rc = exec_rc(db, "BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) return rc;
  std::string version;
  rc = query_text(db, "PRAGMA user_version", version);  // another process may have migrated
  for (int v = rc == SQLITE_ROW ? std::stoi(version) : from;
       rc == SQLITE_ROW && v < CompletionStore::kSchemaVersion; ++v) {
    rc = exec_rc(db, kMigrations[v]);
    if (rc == SQLITE_OK) {
      const std::string set = "PRAGMA user_version = " + std::to_string(v + 1);
      rc = exec_rc(db, set.c_str());
    }
    if (rc == SQLITE_OK) rc = SQLITE_ROW;
  }
  if (rc != SQLITE_ROW) {
    exec_rc(db, "ROLLBACK");
    return rc;
  }
  return exec_rc(db, "COMMIT");
}

// Opens an existing database file and checks it. Hard errors (permissions, I/O, busy) come
// back as Error; unusable content comes back as Inspected::corrupt.
Result<Inspected> inspect(const std::filesystem::path& path, const struct stat& st) {
  if (st.st_size == 0) return Inspected{nullptr, "database file is empty (0 bytes)"};
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, nullptr);
  Connection db(raw);
  if (rc != SQLITE_OK) return sqlite_error(raw, rc, "cannot open database", path);
  sqlite3_busy_timeout(db.get(), 5000);
  sqlite3_extended_result_codes(db.get(), 1);
  std::string value;
  rc = query_text(db.get(), "PRAGMA journal_mode = WAL", value);
  if (rc == SQLITE_ROW) rc = query_text(db.get(), "PRAGMA user_version", value);
  if (rc == SQLITE_ROW) {
    const int version = std::stoi(value);
    if (version > CompletionStore::kSchemaVersion) {
      return Inspected{nullptr, "schema version " + value + " is newer than this torfs supports (" +
                                    std::to_string(CompletionStore::kSchemaVersion) + ")"};
    }
    rc = query_text(db.get(), "PRAGMA quick_check", value);
    if (rc == SQLITE_ROW && value != "ok") return Inspected{nullptr, "integrity check: " + value};
    if (rc == SQLITE_ROW && version < CompletionStore::kSchemaVersion) {
      rc = migrate(db.get(), version);
      if (rc == SQLITE_OK) rc = SQLITE_ROW;
    }
  }
  if (rc == SQLITE_ROW) {
    rc = query_text(db.get(),
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                    "('torrents', 'pieces', 'files', 'settings')",
                    value);
    if (rc == SQLITE_ROW && value != "4") return Inspected{nullptr, "schema tables are missing"};
  }
  if (rc == SQLITE_ROW)
    rc = exec_rc(db.get(), "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON");
  if (rc == SQLITE_ROW || rc == SQLITE_OK || rc == SQLITE_DONE) return Inspected{db.release(), {}};
  if (is_corruption(rc)) return Inspected{nullptr, sqlite3_errmsg(db.get())};
  return sqlite_error(db.get(), rc, "cannot use database", path);
}

// Creates a fresh database with the schema at a temporary name (mode 0600) and renames it into
// place, so no other process ever sees a half-made file at `path`.
Result<void> create_fresh(const std::filesystem::path& path) {
  const std::filesystem::path tmp = path.string() + ".new-" + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return make_errno_error(errno, "cannot create " + tmp.string() + ": " + std::strerror(errno));
  }
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(tmp.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
  {
    Connection db(raw);
    if (rc == SQLITE_OK) rc = migrate(db.get(), 0);
    if (rc != SQLITE_OK) {
      ::unlink(tmp.c_str());
      return sqlite_error(db.get(), rc, "cannot create database", tmp);
    }
  }
  // Stale -wal/-shm files without their database would be replayed into the new one.
  for (const char* suffix : {"-wal", "-shm"})
    ::unlink((path.string() + suffix).c_str());
  if (::rename(tmp.c_str(), path.c_str()) < 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return make_errno_error(err, "cannot rename " + tmp.string() + ": " + std::strerror(err));
  }
  return {};
}

// Moves a corrupt database (and its -wal/-shm) aside; returns where it went.
Result<std::filesystem::path> move_aside(const std::filesystem::path& path) {
  std::string target = path.string() + ".corrupt-" + std::to_string(unix_now());
  for (int n = 1; ::access(target.c_str(), F_OK) == 0; ++n) {
    target = path.string() + ".corrupt-" + std::to_string(unix_now()) + "-" + std::to_string(n);
  }
  if (::rename(path.c_str(), target.c_str()) < 0) {
    return make_errno_error(
        errno, "cannot move corrupt database " + path.string() + " aside: " + std::strerror(errno));
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    ::rename((path.string() + suffix).c_str(), (target + suffix).c_str());
  }
  return std::filesystem::path(target);
}

}  // namespace

Result<std::unique_ptr<CompletionStore>> CompletionStore::open(std::filesystem::path db_path) {
  std::error_code ec;
  db_path = std::filesystem::absolute(db_path, ec).lexically_normal();
  if (ec) return make_errno_error(ec.value(), "cannot resolve " + db_path.string());
  if (auto dir = safe_fs::ensure_private_dir(db_path.parent_path()); !dir) {
    return std::move(dir).take_error();
  }
  // Creation and reset happen under an exclusive flock so that two processes starting at once
  // neither both create the file nor move aside the one the other just made.
  const std::string lock_path = db_path.string() + ".lock";
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!lock.valid() || ::flock(lock.get(), LOCK_EX) < 0) {
    return make_errno_error(errno, "cannot lock " + lock_path + ": " + std::strerror(errno));
  }
  std::string reset_reason;
  for (int attempt = 0; attempt < 3; ++attempt) {
    struct stat st {};
    if (::lstat(db_path.c_str(), &st) < 0) {
      if (errno != ENOENT) {
        return make_errno_error(errno,
                                "cannot stat " + db_path.string() + ": " + std::strerror(errno));
      }
      if (auto created = create_fresh(db_path); !created) return std::move(created).take_error();
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      return make_error(std::errc::invalid_argument,
                        "refusing to use " + db_path.string() + ": not a regular file" +
                            (S_ISLNK(st.st_mode) ? " (a symlink)" : ""));
    }
    auto inspected = inspect(db_path, st);
    if (!inspected) return std::move(inspected).take_error();
    if (inspected->db) {
      return std::unique_ptr<CompletionStore>(
          new CompletionStore(inspected->db, db_path, std::move(reset_reason)));
    }
    auto moved = move_aside(db_path);
    if (!moved) return std::move(moved).take_error();
    reset_reason = "database " + db_path.string() + " was unusable (" + inspected->corrupt +
                   "); moved it to " + moved->string() + " and started a new one";
  }
  return make_error(std::errc::io_error, "cannot create a usable database at " + db_path.string());
}

CompletionStore::CompletionStore(sqlite3* db, std::filesystem::path path, std::string reset_reason)
    : db_(db), path_(std::move(path)), reset_reason_(std::move(reset_reason)) {}

CompletionStore::~CompletionStore() {
  for (auto& [sql, stmt] : statements_)
    sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

// ---- plumbing (all called with mutex_ held) ----

namespace {

// Resets a cached statement when a call is done with it, so no read transaction stays open.
class Use {
 public:
  explicit Use(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Use() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

struct Blob {
  std::string_view bytes;
};

void bind_one(sqlite3_stmt* s, int i, std::int64_t v) {
  sqlite3_bind_int64(s, i, v);
}
void bind_one(sqlite3_stmt* s, int i, std::uint64_t v) {
  sqlite3_bind_int64(s, i, static_cast<sqlite3_int64>(v));  // sizes < 2^63: stored as is
}
void bind_one(sqlite3_stmt* s, int i, std::uint32_t v) {
  sqlite3_bind_int64(s, i, v);
}
void bind_one(sqlite3_stmt* s, int i, std::string_view t) {
  sqlite3_bind_text64(s, i, t.data(), t.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}
void bind_one(sqlite3_stmt* s, int i, Blob b) {
  sqlite3_bind_blob64(s, i, b.bytes.data(), b.bytes.size(), SQLITE_TRANSIENT);
}
void bind_one(sqlite3_stmt* s, int i, const Sha1Hash& h) {
  bind_one(s, i, Blob{std::string_view(reinterpret_cast<const char*>(h.data()), h.size())});
}

template <class... Args>
void bind_all([[maybe_unused]] sqlite3_stmt* s, const Args&... args) {
  int i = 0;
  (bind_one(s, ++i, args), ...);
}

std::string column_bytes(sqlite3_stmt* s, int i) {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}
std::uint64_t column_u64(sqlite3_stmt* s, int i) {
  return static_cast<std::uint64_t>(sqlite3_column_int64(s, i));
}
std::uint32_t column_u32(sqlite3_stmt* s, int i) {
  return static_cast<std::uint32_t>(sqlite3_column_int64(s, i));
}

}  // namespace

Error CompletionStore::db_error(const std::string& what) const {
  const int rc = sqlite3_extended_errcode(db_);
  return make_error(errc_for(rc), what + " (" + path_.string() + "): " + sqlite3_errmsg(db_));
}

Result<sqlite3_stmt*> CompletionStore::prepare(const char* sql) {
  for (auto& [key, stmt] : statements_) {
    if (key == sql) return stmt;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    return db_error(std::string("cannot prepare '") + sql + "'");
  }
  statements_.emplace_back(sql, stmt);
  return stmt;
}

Result<void> CompletionStore::exec(const char* sql) {
  if (exec_rc(db_, sql) != SQLITE_OK) return db_error(std::string("cannot run '") + sql + "'");
  return {};
}

template <class... Args>
Result<void> CompletionStore::run(const char* sql, const Args&... args) {
  auto stmt = prepare(sql);
  if (!stmt) return std::move(stmt).take_error();
  Use use(*stmt);
  bind_all(*stmt, args...);
  if (sqlite3_step(*stmt) != SQLITE_DONE) return db_error(std::string("cannot run '") + sql + "'");
  return {};
}

template <class Row, class... Args>
Result<void> CompletionStore::query(const char* sql, Row&& row, const Args&... args) {
  auto stmt = prepare(sql);
  if (!stmt) return std::move(stmt).take_error();
  Use use(*stmt);
  bind_all(*stmt, args...);
  int rc;
  while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW)
    row(*stmt);
  if (rc != SQLITE_DONE) return db_error(std::string("cannot run '") + sql + "'");
  return {};
}

Result<void> CompletionStore::in_transaction(const std::function<Result<void>()>& body) {
  if (auto begin = exec("BEGIN IMMEDIATE"); !begin) return begin;
  Result<void> result = body();
  if (result) result = exec("COMMIT");
  if (!result) exec_rc(db_, "ROLLBACK");
  return result;
}

// ---- API ----

Result<TorrentId> CompletionStore::upsert_torrent(const TorrentRecord& r) {
  std::lock_guard lock(mutex_);
  TorrentId id = 0;
  auto done = in_transaction([&]() -> Result<void> {
    bool same_geometry = true;
    auto found = query(
        "SELECT id, total_size, piece_length, num_pieces FROM torrents "
        "WHERE info_hash = ?1 AND data_dir = ?2",
        [&](sqlite3_stmt* s) {
          id = sqlite3_column_int64(s, 0);
          same_geometry = column_u64(s, 1) == r.total_size && column_u32(s, 2) == r.piece_length &&
                          column_u32(s, 3) == r.num_pieces;
        },
        r.info_hash, std::string_view(r.data_dir));
    if (!found) return found;
    const std::int64_t now = unix_now();
    if (id == 0) {
      auto inserted = run(
          "INSERT INTO torrents(info_hash, data_dir, name, total_size, piece_length, num_pieces, "
          "added_at, last_seen_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
          r.info_hash, std::string_view(r.data_dir), std::string_view(r.name), r.total_size,
          r.piece_length, r.num_pieces, now);
      id = sqlite3_last_insert_rowid(db_);
      return inserted;
    }
    if (!same_geometry) {
      if (auto d = run("DELETE FROM pieces WHERE torrent_id = ?1", id); !d) return d;
      if (auto d = run("DELETE FROM files WHERE torrent_id = ?1", id); !d) return d;
    }
    return run(
        "UPDATE torrents SET name = ?2, total_size = ?3, piece_length = ?4, num_pieces = ?5, "
        "last_seen_at = ?6 WHERE id = ?1",
        id, std::string_view(r.name), r.total_size, r.piece_length, r.num_pieces, now);
  });
  if (!done) return std::move(done).take_error();
  return id;
}

Result<std::vector<PieceIndex>> CompletionStore::load_pieces(TorrentId id) {
  std::lock_guard lock(mutex_);
  std::vector<PieceIndex> out;
  auto r = query(
      "SELECT piece FROM pieces WHERE torrent_id = ?1 ORDER BY piece",
      [&](sqlite3_stmt* s) { out.emplace_back(column_u32(s, 0)); }, id);
  if (!r) return std::move(r).take_error();
  return out;
}

Result<std::vector<FileRecord>> CompletionStore::load_files(TorrentId id) {
  std::lock_guard lock(mutex_);
  std::vector<FileRecord> out;
  auto r = query(
      "SELECT file_index, size, mtime_ns FROM files WHERE torrent_id = ?1 ORDER BY file_index",
      [&](sqlite3_stmt* s) {
        out.push_back(
            FileRecord{FileIndex(column_u32(s, 0)), column_u64(s, 1), sqlite3_column_int64(s, 2)});
      },
      id);
  if (!r) return std::move(r).take_error();
  return out;
}

Result<void> CompletionStore::commit_pieces(TorrentId id, std::span<const PieceIndex> pieces,
                                            std::span<const FileRecord> files) {
  std::lock_guard lock(mutex_);
  return in_transaction([&]() -> Result<void> {
    std::int64_t num_pieces = -1;
    auto found = query(
        "SELECT num_pieces FROM torrents WHERE id = ?1",
        [&](sqlite3_stmt* s) { num_pieces = sqlite3_column_int64(s, 0); }, id);
    if (!found) return found;
    if (num_pieces < 0) {
      return make_error(std::errc::invalid_argument, "no torrent with id " + std::to_string(id));
    }
    for (PieceIndex p : pieces) {
      if (p.value() >= num_pieces) {
        return make_error(std::errc::invalid_argument,
                          "piece " + std::to_string(p.value()) + " out of range (torrent " +
                              std::to_string(id) + " has " + std::to_string(num_pieces) + ")");
      }
      auto r = run("INSERT OR IGNORE INTO pieces(torrent_id, piece) VALUES(?1, ?2)", id, p.value());
      if (!r) return r;
    }
    for (const FileRecord& f : files) {
      auto r =
          run("INSERT INTO files(torrent_id, file_index, size, mtime_ns) VALUES(?1, ?2, ?3, ?4) "
              "ON CONFLICT(torrent_id, file_index) DO UPDATE SET size = excluded.size, "
              "mtime_ns = excluded.mtime_ns",
              id, f.file.value(), f.size, f.mtime_ns);
      if (!r) return r;
    }
    return {};
  });
}

Result<void> CompletionStore::remove_pieces(TorrentId id, std::span<const PieceIndex> pieces) {
  std::lock_guard lock(mutex_);
  return in_transaction([&]() -> Result<void> {
    for (PieceIndex p : pieces) {
      auto r = run("DELETE FROM pieces WHERE torrent_id = ?1 AND piece = ?2", id, p.value());
      if (!r) return r;
    }
    return {};
  });
}

Result<void> CompletionStore::evict_pieces(TorrentId id, std::span<const PieceIndex> pieces) {
  std::lock_guard lock(mutex_);
  // Outside a transaction only: FULL makes this commit fsync the WAL; NORMAL comes back after.
  if (auto full = exec("PRAGMA synchronous = FULL"); !full) return full;
  auto result = in_transaction([&]() -> Result<void> {
    for (PieceIndex p : pieces) {
      auto r = run("DELETE FROM pieces WHERE torrent_id = ?1 AND piece = ?2", id, p.value());
      if (!r) return r;
    }
    return {};
  });
  auto normal = exec("PRAGMA synchronous = NORMAL");
  if (result && !normal) return normal;
  return result;
}

Result<void> CompletionStore::remove_torrent(TorrentId id) {
  std::lock_guard lock(mutex_);
  return run("DELETE FROM torrents WHERE id = ?1", id);  // pieces, files: ON DELETE CASCADE
}

Result<void> CompletionStore::set_metainfo(TorrentId id, std::string_view info_bytes) {
  std::lock_guard lock(mutex_);
  return run("UPDATE torrents SET metainfo = ?2 WHERE id = ?1", id, Blob{info_bytes});
}

Result<std::optional<std::string>> CompletionStore::metainfo_for(const Sha1Hash& info_hash) {
  std::lock_guard lock(mutex_);
  std::optional<std::string> out;
  auto r = query(
      "SELECT metainfo FROM torrents WHERE info_hash = ?1 AND metainfo IS NOT NULL LIMIT 1",
      [&](sqlite3_stmt* s) { out = column_bytes(s, 0); }, info_hash);
  if (!r) return std::move(r).take_error();
  return out;
}

Result<void> CompletionStore::add_transfer(TorrentId id, std::uint64_t uploaded,
                                           std::uint64_t downloaded) {
  std::lock_guard lock(mutex_);
  return run(
      "UPDATE torrents SET uploaded = uploaded + ?2, downloaded = downloaded + ?3, "
      "last_seen_at = ?4 WHERE id = ?1",
      id, uploaded, downloaded, unix_now());
}

namespace {

// The columns stored_torrent_from() reads, for list_torrents() and find_torrent(). Their
// statements are built once into function-local statics: prepare() caches by address.
constexpr std::string_view kSelectStoredTorrents =
    "SELECT id, info_hash, data_dir, name, total_size, piece_length, num_pieces, uploaded, "
    "downloaded, added_at, last_seen_at, "
    "(SELECT count(*) FROM pieces p WHERE p.torrent_id = t.id) FROM torrents t ";

StoredTorrent stored_torrent_from(sqlite3_stmt* s) {
  StoredTorrent t;
  t.id = sqlite3_column_int64(s, 0);
  const std::string hash = column_bytes(s, 1);
  std::memcpy(t.record.info_hash.data(), hash.data(), std::min<std::size_t>(hash.size(), 20));
  t.record.data_dir = column_bytes(s, 2);
  t.record.name = column_bytes(s, 3);
  t.record.total_size = column_u64(s, 4);
  t.record.piece_length = column_u32(s, 5);
  t.record.num_pieces = column_u32(s, 6);
  t.uploaded = column_u64(s, 7);
  t.downloaded = column_u64(s, 8);
  t.added_at = sqlite3_column_int64(s, 9);
  t.last_seen_at = sqlite3_column_int64(s, 10);
  t.pieces_have = column_u32(s, 11);
  return t;
}

}  // namespace

Result<std::vector<StoredTorrent>> CompletionStore::list_torrents() {
  std::lock_guard lock(mutex_);
  std::vector<StoredTorrent> out;
  static const std::string sql = std::string(kSelectStoredTorrents) + "ORDER BY id";
  auto r = query(sql.c_str(), [&](sqlite3_stmt* s) { out.push_back(stored_torrent_from(s)); });
  if (!r) return std::move(r).take_error();
  return out;
}

Result<std::optional<StoredTorrent>> CompletionStore::find_torrent(TorrentId id) {
  std::lock_guard lock(mutex_);
  std::optional<StoredTorrent> out;
  static const std::string sql = std::string(kSelectStoredTorrents) + "WHERE id = ?1";
  auto r = query(
      sql.c_str(), [&](sqlite3_stmt* s) { out = stored_torrent_from(s); }, id);
  if (!r) return std::move(r).take_error();
  return out;
}

Result<std::optional<std::string>> CompletionStore::get_setting(std::string_view key) {
  std::lock_guard lock(mutex_);
  std::optional<std::string> out;
  auto r = query(
      "SELECT value FROM settings WHERE key = ?1",
      [&](sqlite3_stmt* s) { out = column_bytes(s, 0); }, key);
  if (!r) return std::move(r).take_error();
  return out;
}

Result<void> CompletionStore::set_setting(std::string_view key, std::string_view value) {
  std::lock_guard lock(mutex_);
  return run(
      "INSERT INTO settings(key, value) VALUES(?1, ?2) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      key, value);
}

}  // namespace torfs
