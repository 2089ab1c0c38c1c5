// torfs create PATH -o OUT.torrent [-t URL[,URL]]... [--piece-size N] [--private] ...
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/metainfo.hpp"
#include "engine/torrent_creator.hpp"
#include "tools/command.hpp"
#include "tools/progress.hpp"

namespace torfs::tools {
namespace {
namespace fs = std::filesystem;

struct CreateArgs {
  std::string source;
  std::string output;
  std::vector<std::string> trackers;
  std::vector<std::string> web_seeds;
  std::string piece_size;
  bool is_private = false;
  std::string comment;
  unsigned threads = 0;
  bool force = false;
  bool no_date = false;
};

std::vector<std::string> split_commas(const std::string& s, const char* what) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = s.find(',', start);
    std::string part = s.substr(start, comma - start);
    if (part.empty()) fail("empty " + std::string(what) + " URL in '" + s + "'", 2);
    out.push_back(std::move(part));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// "262144", "256K", "256k", "256KiB", "1M", "1MiB", "16m": bytes.
std::uint32_t parse_piece_size(const std::string& text) {
  std::size_t pos = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &pos);
  } catch (const std::exception&) {
    fail("--piece-size: '" + text + "' is not a size (examples: 262144, 256K, 1M)", 2);
  }
  const std::string suffix = text.substr(pos);
  unsigned long long scale = 1;
  if (suffix == "K" || suffix == "k" || suffix == "KiB") {
    scale = 1024;
  } else if (suffix == "M" || suffix == "m" || suffix == "MiB") {
    scale = 1024 * 1024;
  } else if (!suffix.empty() && suffix != "B") {
    fail("--piece-size: unknown suffix '" + suffix + "' (use K or M)", 2);
  }
  if (n > (1ull << 32) / scale) fail("--piece-size: '" + text + "' is too large", 2);
  n *= scale;
  if (n < 16 * 1024 || n > 256 * 1024 * 1024 || (n & (n - 1)) != 0) {
    fail("--piece-size: " + std::to_string(n) + " bytes is not a power of two between 16K and 256M",
         2);
  }
  return static_cast<std::uint32_t>(n);
}

// Writes bytes to `out` through a temporary file in the same directory, fsync'd, then renamed
// into place. Without `force`, an existing `out` is never replaced (RENAME_NOREPLACE).
void write_atomically(const std::string& out, const std::string& bytes, bool force) {
  const fs::path target(out);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0)
    fail("cannot create a temporary file in '" + dir.string() + "': " + std::strerror(errno));
  auto discard = [&](const std::string& message) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(message);
  };
  ::fchmod(fd, 0644);
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) discard("cannot write '" + tmp + "': " + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) discard("cannot sync '" + tmp + "': " + std::strerror(errno));
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail("cannot write '" + tmp + "': " + std::strerror(errno));
  }
  int r = force ? ::rename(tmp.c_str(), out.c_str())
                : ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_NOREPLACE);
  if (r != 0 && !force && errno == EINVAL) {
    // The filesystem does not support RENAME_NOREPLACE: check, then rename (racy but rare).
    r = fs::exists(out) ? (errno = EEXIST, -1) : ::rename(tmp.c_str(), out.c_str());
  }
  if (r != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST) fail("'" + out + "' already exists (use --force to replace it)");
    fail("cannot create '" + out + "': " + std::strerror(err));
  }
}

void run(const CreateArgs& args) {
  if (!args.force && fs::exists(args.output)) {
    fail("'" + args.output + "' already exists (use --force to replace it)");
  }
  CreateOptions options;
  options.source = args.source;
  for (const auto& t : args.trackers)
    options.trackers.push_back(split_commas(t, "tracker"));
  for (const auto& w : args.web_seeds) {
    for (auto& url : split_commas(w, "web seed"))
      options.web_seeds.push_back(std::move(url));
  }
  if (!args.piece_size.empty()) options.piece_length = parse_piece_size(args.piece_size);
  options.is_private = args.is_private;
  options.comment = args.comment;
  options.created_by = std::string("torfs/") + TORFS_VERSION;
  if (!args.no_date) options.creation_date = static_cast<std::int64_t>(std::time(nullptr));
  options.threads = args.threads;
  options.warning = [](const std::string& message) {
    std::fprintf(stderr, "torfs: warning: %s\n", message.c_str());
  };
  std::unique_ptr<Progress> progress;
  options.progress = [&progress](std::uint64_t done, std::uint64_t total) {
    if (!progress) progress = std::make_unique<Progress>(total, std::string("hashing"));
    progress->update(done);
  };
  auto torrent = create_torrent(options);
  if (progress) progress->finish();
  if (!torrent) fail(torrent.error().message);

  // Parse what we made: the same checks every reader applies, and the info-hash to print.
  auto meta = parse_metainfo(*torrent);
  if (!meta) fail("the created torrent does not parse (a bug): " + meta.error().message);
  for (const auto& w : meta->warnings)
    std::fprintf(stderr, "torfs: warning: %s\n", w.c_str());
  write_atomically(args.output, *torrent, args.force);
  const FileLayout& layout = meta->layout;
  std::printf("created %s: '%s', %u file%s, %s in %u piece%s of %s\n", args.output.c_str(),
              meta->name.c_str(), layout.num_files(), layout.num_files() == 1 ? "" : "s",
              format_bytes(layout.total_size()).c_str(), layout.num_pieces(),
              layout.num_pieces() == 1 ? "" : "s", format_bytes(layout.piece_length()).c_str());
  std::printf("info-hash: %s\n", to_hex(meta->info_hash).c_str());
}

void setup(CLI::App& app) {
  auto args = std::make_shared<CreateArgs>();
  auto* cmd = app.add_subcommand("create", "Create a .torrent from a file or a directory");
  cmd->add_option("path", args->source, "The file or directory to share")->required();
  cmd->add_option("-o,--output", args->output, "Where to write the .torrent")->required();
  cmd->add_option("-t,--tracker", args->trackers,
                  "Tracker announce URL; comma-separated URLs form one tier, each -t a new tier "
                  "(as mktorrent -a)")
      ->allow_extra_args(false);
  cmd->add_option("-w,--web-seed", args->web_seeds, "Web seed URL (BEP 19); repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--piece-size", args->piece_size,
                  "Piece size in bytes, power of two, 16K..256M; suffixes K and M (default: "
                  "automatic, ~1500 pieces, 16K..16M)");
  cmd->add_flag("--private", args->is_private, "Set the private flag (BEP 27: trackers only)");
  cmd->add_option("--comment", args->comment, "A comment stored in the torrent");
  cmd->add_flag("--no-date", args->no_date, "Do not store the creation date");
  cmd->add_option("--threads", args->threads, "Hashing threads (default: one per core)")
      ->check(CLI::Range(0u, 256u));
  cmd->add_flag("-f,--force", args->force, "Replace OUT if it exists");
  cmd->footer(
      "The info dictionary matches mktorrent's for the same input, piece size and trackers, so "
      "both give the same info-hash.\nExit status: 0 on success, 1 on failure, 2 on bad "
      "usage.");
  cmd->callback([args] { run(*args); });
}

const CommandRegistration reg(20, setup);

}  // namespace
}  // namespace torfs::tools
