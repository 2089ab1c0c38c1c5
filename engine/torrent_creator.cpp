#include "engine/torrent_creator.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "cache/file_layout.hpp"
#include "cache/sha1.hpp"
#include "engine/bencode.hpp"

namespace torfs {
namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kMinPieceLength = 16 * 1024;
constexpr std::uint32_t kMaxPieceLength = 256 * 1024 * 1024;
constexpr std::uint32_t kMaxAutoPieceLength = 16 * 1024 * 1024;
constexpr std::uint64_t kAutoTargetPieces = 1500;
// One pread: large enough to keep syscall cost negligible, small enough to stay in L2 between
// the copy out of the page cache and the hashing.
constexpr std::size_t kReadBlock = 512 * 1024;
constexpr std::uint64_t kProgressStep = 4 * 1024 * 1024;

struct SourceFile {
  std::string relative;  // '/'-separated below the source; empty for a single-file torrent
  std::string absolute;  // what we open
  std::uint64_t size = 0;
};

struct Scan {
  std::string name;
  bool multi_file = false;
  std::vector<SourceFile> files;
};

std::string quote(const fs::path& p) {
  return "'" + p.string() + "'";
}

Error fs_error(const std::error_code& ec, const std::string& what) {
  return Error{ec, what + ": " + ec.message()};
}

bool is_within(const fs::path& inner, const fs::path& root) {
  auto r = root.begin(), i = inner.begin();
  for (; r != root.end(); ++r, ++i) {
    if (i == inner.end() || *i != *r) return false;
  }
  return true;
}

// The torrent's name as mktorrent picks it: the last component, trailing '/' stripped.
Result<std::string> torrent_name(const fs::path& source, const fs::path& canonical) {
  fs::path normal = source.lexically_normal();
  std::string name = normal.filename().string();
  if (name.empty()) name = normal.parent_path().filename().string();
  if (name.empty() || name == "." || name == "..") name = canonical.filename().string();
  if (name.empty() || name == "/") {
    return make_error(std::errc::invalid_argument,
                      "cannot name a torrent after " + quote(source) + ": no file name");
  }
  return name;
}

class Scanner {
 public:
  Scanner(const CreateOptions& options, fs::path root) : options_(options), root_(root) {}

  // Recursively collects the regular files below `dir` (canonical), following symlinks that
  // stay inside the root. `relative` is dir's path below the root ("" for the root).
  Result<void> walk(const fs::path& dir, const std::string& relative) {
    if (std::find(stack_.begin(), stack_.end(), dir) != stack_.end()) {
      return make_error(
          std::errc::too_many_symbolic_link_levels,
          "symlink loop: " + quote(root_ / relative) + " leads back to " + quote(dir));
    }
    stack_.push_back(dir);
    std::error_code ec;
    fs::directory_iterator it(dir, ec), end;
    if (ec) return fs_error(ec, "cannot list " + quote(dir));
    std::vector<std::string> names;
    for (; it != end; it.increment(ec))
      names.push_back(it->path().filename().string());
    if (ec) return fs_error(ec, "cannot list " + quote(dir));
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      auto r = visit(dir / n, relative.empty() ? n : relative + "/" + n);
      if (!r) return r;
    }
    stack_.pop_back();
    return {};
  }

  std::vector<SourceFile> take_files() { return std::move(files_); }

 private:
  Result<void> visit(const fs::path& path, const std::string& relative) {
    std::error_code ec;
    fs::path target = path;
    if (fs::is_symlink(fs::symlink_status(path, ec))) {
      target = fs::canonical(path, ec);
      if (ec) return fs_error(ec, "cannot follow symlink " + quote(path));
      if (!is_within(target, root_)) {
        return make_error(std::errc::operation_not_permitted,
                          "refusing symlink " + quote(path) + ": it points to " + quote(target) +
                              ", outside " + quote(root_));
      }
    }
    const fs::file_status st = fs::status(target, ec);
    if (ec) return fs_error(ec, "cannot stat " + quote(path));
    if (fs::is_directory(st)) return walk(fs::canonical(target), relative);
    if (fs::is_regular_file(st)) {
      const auto size = fs::file_size(target, ec);
      if (ec) return fs_error(ec, "cannot stat " + quote(path));
      files_.push_back(SourceFile{relative, target.string(), size});
      return {};
    }
    const std::string message = "skipping " + quote(path) + ": not a regular file or directory";
    if (!options_.warning) return make_error(std::errc::invalid_argument, message);
    options_.warning(message);
    return {};
  }

  const CreateOptions& options_;
  fs::path root_;
  std::vector<fs::path> stack_;  // canonical directories being walked (loop detection)
  std::vector<SourceFile> files_;
};

Result<Scan> scan_source(const CreateOptions& options) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(options.source, ec);
  if (ec) return fs_error(ec, "cannot open " + quote(options.source));
  auto name = torrent_name(options.source, canonical);
  if (!name) return std::move(name).take_error();
  Scan scan;
  scan.name = std::move(*name);
  const fs::file_status st = fs::status(canonical, ec);
  if (ec) return fs_error(ec, "cannot stat " + quote(options.source));
  if (fs::is_regular_file(st)) {
    const auto size = fs::file_size(canonical, ec);
    if (ec) return fs_error(ec, "cannot stat " + quote(options.source));
    scan.files.push_back(SourceFile{"", canonical.string(), size});
    return scan;
  }
  if (!fs::is_directory(st)) {
    return make_error(std::errc::invalid_argument,
                      quote(options.source) + " is neither a regular file nor a directory");
  }
  scan.multi_file = true;
  Scanner scanner(options, canonical);
  if (auto r = scanner.walk(canonical, ""); !r) return std::move(r).take_error();
  scan.files = scanner.take_files();
  // mktorrent's order: strcmp() of the relative path (byte order, '/' included).
  std::sort(scan.files.begin(), scan.files.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.relative < b.relative; });
  if (scan.files.empty()) {
    return make_error(std::errc::invalid_argument,
                      quote(options.source) +
                          " contains no files (empty directories are not "
                          "part of a torrent)");
  }
  return scan;
}

class Fd {
 public:
  Fd() = default;
  ~Fd() { reset(-1); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Shared state of one hashing run. Workers claim chunks of consecutive pieces with an atomic
// counter and write each piece's hash into its own slot, so no lock guards the hashes.
class Hasher {
 public:
  Hasher(const FileLayout& layout, const std::vector<SourceFile>& files,
         const CreateOptions& options)
      : layout_(layout), files_(files), options_(options), hashes_(layout.num_pieces()) {}

  Result<std::vector<Sha1Hash>> run() {
    const std::uint64_t total = layout_.total_size();
    unsigned threads = options_.threads ? options_.threads : std::thread::hardware_concurrency();
    threads = std::max(1u, threads);
    // Chunks: long sequential runs for each worker, but many per thread (~32, at most 16 MiB)
    // so that the last chunks finish together even when other processes steal CPU time.
    const std::uint64_t want = std::clamp<std::uint64_t>(total / (threads * 32ull), 1, 16 << 20);
    pieces_per_chunk_ =
        static_cast<std::uint32_t>(std::max<std::uint64_t>(1, want / layout_.piece_length()));
    num_chunks_ = (layout_.num_pieces() + pieces_per_chunk_ - 1) / pieces_per_chunk_;
    threads = std::min<unsigned>(threads, num_chunks_);
    std::vector<std::thread> workers;
    for (unsigned i = 1; i < threads; ++i)
      workers.emplace_back([this] { work(); });
    work();
    for (auto& t : workers)
      t.join();
    if (error_) return std::move(*error_);
    if (options_.progress) options_.progress(total, total);
    return std::move(hashes_);
  }

 private:
  void work() {
    std::unique_ptr<char[]> buffer(new char[kReadBlock]);
    Sha1 sha;
    OpenFile open;
    std::uint64_t unreported = 0;
    for (;;) {
      if (failed_.load(std::memory_order_relaxed)) break;
      const std::uint32_t chunk = next_chunk_.fetch_add(1);
      if (chunk >= num_chunks_) break;
      auto r = hash_chunk(chunk, buffer.get(), sha, open, unreported);
      if (!r) {
        fail(std::move(r).take_error());
        break;
      }
    }
    report(unreported);
  }

  struct OpenFile {
    Fd fd;
    std::uint32_t index = UINT32_MAX;
  };

  Result<void> hash_chunk(std::uint32_t chunk, char* buffer, Sha1& sha, OpenFile& open,
                          std::uint64_t& unreported) {
    PieceIndex piece(chunk * pieces_per_chunk_);
    const std::uint32_t last =
        std::min<std::uint64_t>(layout_.num_pieces(), std::uint64_t{chunk + 1} * pieces_per_chunk_);
    std::uint64_t pos = layout_.piece_offset(piece);
    const std::uint64_t end =
        std::min(layout_.total_size(), layout_.piece_offset(PieceIndex(last)));
    std::uint64_t piece_end = pos + layout_.piece_size(piece);
    while (pos < end) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(kReadBlock, end - pos));
      if (auto r = read_stream(pos, n, buffer, open); !r) return r;
      for (std::size_t i = 0; i < n;) {
        const std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(n - i, piece_end - pos));
        sha.update(buffer + i, take);
        i += take;
        pos += take;
        if (pos == piece_end) {
          hashes_[piece.value()] = sha.finish();
          ++piece;
          piece_end = pos + layout_.piece_size(piece);
        }
      }
      unreported += n;
      if (unreported >= kProgressStep) {
        report(unreported);
        unreported = 0;
      }
    }
    return {};
  }

  // Reads stream bytes [pos, pos + n) (within the torrent) into out, across files.
  Result<void> read_stream(std::uint64_t pos, std::size_t n, char* out, OpenFile& open) {
    for (FileIndex f = layout_.file_at(pos); n > 0; ++f) {
      const FileEntry& entry = layout_.file(f);
      if (entry.size == 0) continue;
      if (open.index != f.value()) {
        if (auto r = open_file(f, open); !r) return r;
      }
      const std::uint64_t in_file = pos - entry.offset;
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n, entry.size - in_file));
      for (std::size_t done = 0; done < want;) {
        const ssize_t got =
            ::pread(open.fd.get(), out + done, want - done, static_cast<off_t>(in_file + done));
        if (got < 0) {
          const int err = errno;
          if (err == EINTR) continue;
          return make_errno_error(err, "cannot read " + quote(source(f)) + ": " +
                                           std::strerror(err) + " at offset " +
                                           std::to_string(in_file + done));
        }
        if (got == 0) {
          return make_error(std::errc::io_error,
                            quote(source(f)) + " shrank while it was being hashed");
        }
        done += static_cast<std::size_t>(got);
      }
      out += want;
      pos += want;
      n -= want;
    }
    return {};
  }

  Result<void> open_file(FileIndex f, OpenFile& open) {
    const std::string& path = source(f);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      return make_errno_error(err, "cannot open " + quote(path) + ": " + std::strerror(err));
    }
    open.fd.reset(fd);
    open.index = f.value();
    struct stat st {};
    if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) != layout_.file(f).size) {
      return make_error(std::errc::io_error, quote(path) + " changed size while being hashed");
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return {};
  }

  const std::string& source(FileIndex f) const { return files_[f.value()].absolute; }

  void report(std::uint64_t bytes) {
    if (!options_.progress || bytes == 0) return;
    std::lock_guard lock(progress_mutex_);
    done_ += bytes;
    options_.progress(done_, layout_.total_size());
  }

  void fail(Error e) {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::move(e);
    failed_ = true;
  }

  const FileLayout& layout_;
  const std::vector<SourceFile>& files_;
  const CreateOptions& options_;
  std::vector<Sha1Hash> hashes_;
  std::uint32_t pieces_per_chunk_ = 1;
  std::uint32_t num_chunks_ = 0;
  std::atomic<std::uint32_t> next_chunk_{0};
  std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::optional<Error> error_;
  std::mutex progress_mutex_;
  std::uint64_t done_ = 0;
};

bencode::Value::List path_list(const std::string& relative) {
  bencode::Value::List out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = relative.find('/', start);
    out.emplace_back(relative.substr(start, slash - start));
    if (slash == std::string::npos) return out;
    start = slash + 1;
  }
}

std::string build_torrent(const CreateOptions& options, const Scan& scan,
                          std::uint32_t piece_length, const std::vector<Sha1Hash>& hashes) {
  using bencode::Value;
  Value::Dict info;
  if (scan.multi_file) {
    Value::List files;
    for (const auto& f : scan.files) {
      files.emplace_back(Value::Dict{{"length", static_cast<std::int64_t>(f.size)},
                                     {"path", path_list(f.relative)}});
    }
    info["files"] = std::move(files);
  } else {
    info["length"] = static_cast<std::int64_t>(scan.files.front().size);
  }
  info["name"] = scan.name;
  info["piece length"] = static_cast<std::int64_t>(piece_length);
  std::string pieces;
  pieces.reserve(hashes.size() * 20);
  for (const auto& h : hashes)
    pieces.append(reinterpret_cast<const char*>(h.data()), h.size());
  info["pieces"] = std::move(pieces);
  if (options.is_private) info["private"] = 1;

  Value::Dict root;
  std::size_t urls = 0;
  Value::List tiers;
  for (const auto& tier : options.trackers) {
    if (tier.empty()) continue;
    Value::List list(tier.begin(), tier.end());
    urls += tier.size();
    if (urls == tier.size()) root["announce"] = tier.front();
    tiers.emplace_back(std::move(list));
  }
  if (urls > 1) root["announce-list"] = std::move(tiers);
  if (!options.comment.empty()) root["comment"] = options.comment;
  if (!options.created_by.empty()) root["created by"] = options.created_by;
  if (options.creation_date) root["creation date"] = *options.creation_date;
  root["info"] = std::move(info);
  if (options.web_seeds.size() == 1) {
    root["url-list"] = options.web_seeds.front();
  } else if (!options.web_seeds.empty()) {
    root["url-list"] = Value::List(options.web_seeds.begin(), options.web_seeds.end());
  }
  return bencode::encode(Value(std::move(root)));
}

}  // namespace

std::uint32_t automatic_piece_length(std::uint64_t total_size) {
  std::uint32_t length = kMinPieceLength;
  while (length < kMaxAutoPieceLength && total_size > kAutoTargetPieces * length)
    length *= 2;
  return length;
}

Result<std::string> create_torrent(const CreateOptions& options) {
  std::uint32_t piece_length = options.piece_length;
  if (piece_length != 0 && (piece_length < kMinPieceLength || piece_length > kMaxPieceLength ||
                            (piece_length & (piece_length - 1)) != 0)) {
    return make_error(std::errc::invalid_argument,
                      "piece length " + std::to_string(piece_length) +
                          " is not a power of two between 16 KiB and 256 MiB");
  }
  auto scan = scan_source(options);
  if (!scan) return std::move(scan).take_error();
  std::vector<FileEntry> entries;
  std::uint64_t total = 0;
  for (const auto& f : scan->files) {
    entries.push_back(FileEntry{.path = f.relative, .size = f.size});
    total += f.size;
  }
  if (total == 0) {
    return make_error(std::errc::invalid_argument,
                      quote(options.source) + " holds no data (total size 0): nothing to share");
  }
  if (piece_length == 0) piece_length = automatic_piece_length(total);
  auto layout = FileLayout::create(std::move(entries), piece_length);
  if (!layout) return std::move(layout).take_error();
  Hasher hasher(*layout, scan->files, options);
  auto hashes = hasher.run();
  if (!hashes) return std::move(hashes).take_error();
  return build_torrent(options, *scan, piece_length, *hashes);
}

}  // namespace torfs
