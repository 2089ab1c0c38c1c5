// torfs verify FILE.torrent DATA_DIR [--threads N] [--json]: hashes the data on disk.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cache/data_store.hpp"
#include "cache/piece_checker.hpp"
#include "engine/metainfo.hpp"
#include "tools/command.hpp"
#include "tools/json_writer.hpp"
#include "tools/progress.hpp"

namespace torfs::tools {
namespace {

constexpr std::size_t kMaxListed = 50;  // text output lists at most this many files / pieces

// load_metainfo_file's messages usually name the file already.
std::string with_path(const std::string& path, const std::string& message) {
  return message.find(path) != std::string::npos ? message : path + ": " + message;
}

struct VerifyArgs {
  std::string torrent;
  std::string data_dir;
  unsigned threads = 0;
  bool json = false;
};

// A file touched by at least one piece that is not good.
struct AffectedFile {
  FileIndex index;
  bool exists = false;
  std::uint32_t bad = 0;
  std::uint32_t missing = 0;
};

struct Report {
  std::uint32_t good = 0, bad = 0, missing = 0;
  std::vector<PieceIndex> bad_pieces;
  std::vector<AffectedFile> files;
};

Report summarize(const DataStore& store, const std::vector<PieceState>& states) {
  Report r;
  for (std::uint32_t p = 0; p < states.size(); ++p) {
    switch (states[p]) {
      case PieceState::good:
        ++r.good;
        break;
      case PieceState::bad:
        ++r.bad, r.bad_pieces.push_back(PieceIndex(p));
        break;
      case PieceState::missing:
        ++r.missing;
        break;
    }
  }
  const FileLayout& layout = store.layout();
  for (FileIndex f(0); f.value() < layout.num_files(); ++f) {
    if (layout.file(f).pad) continue;
    AffectedFile a{f, store.file_state(f).exists};
    const PieceRange range = layout.pieces_for_file(f);
    for (PieceIndex p = range.begin; p < range.end; ++p) {
      a.bad += states[p.value()] == PieceState::bad;
      a.missing += states[p.value()] == PieceState::missing;
    }
    if (a.bad || a.missing) r.files.push_back(a);
  }
  return r;
}

void print_text(const Metainfo& meta, const Report& r) {
  const std::uint32_t n = meta.layout.num_pieces();
  std::printf("%s: %u piece%s: %u good, %u bad, %u missing\n", meta.name.c_str(), n,
              n == 1 ? "" : "s", r.good, r.bad, r.missing);
  if (!r.bad_pieces.empty()) {
    std::printf("bad pieces:");
    for (std::size_t i = 0; i < std::min(r.bad_pieces.size(), kMaxListed); ++i) {
      std::printf(" %u", r.bad_pieces[i].value());
    }
    if (r.bad_pieces.size() > kMaxListed) std::printf(" ... (%zu in all)", r.bad_pieces.size());
    std::printf("\n");
  }
  if (!r.files.empty()) std::printf("files affected:\n");
  for (std::size_t i = 0; i < std::min(r.files.size(), kMaxListed); ++i) {
    const AffectedFile& a = r.files[i];
    auto pieces = [](std::uint32_t n) {
      return std::to_string(n) + (n == 1 ? " piece" : " pieces");
    };
    std::string what = a.exists ? "" : "file missing";
    if (a.exists && a.bad) what += pieces(a.bad) + " bad";
    if (a.exists && a.missing) {
      what += (what.empty() ? "" : ", ") + pieces(a.missing) + " missing";
    }
    std::printf("  %s (%s)\n", meta.layout.file(a.index).path.c_str(), what.c_str());
  }
  if (r.files.size() > kMaxListed) std::printf("  ... %zu files in all\n", r.files.size());
}

void print_json(const Metainfo& meta, const VerifyArgs& args, const Report& r) {
  JsonWriter j(2);
  j.begin_object();
  j.field("torrent", args.torrent);
  j.field("data_dir", args.data_dir);
  j.field("name", meta.name);
  j.field("info_hash", to_hex(meta.info_hash));
  j.field("num_pieces", meta.layout.num_pieces());
  j.field("good", r.good).field("bad", r.bad).field("missing", r.missing);
  j.field("complete", r.bad == 0 && r.missing == 0);
  j.key("bad_pieces").begin_array();
  for (const auto p : r.bad_pieces)
    j.value(p.value());
  j.end_array();
  j.key("files").begin_array();
  for (const auto& a : r.files) {
    j.begin_object();
    j.field("path", meta.layout.file(a.index).path);
    j.field("exists", a.exists);
    j.field("bad_pieces", a.bad).field("missing_pieces", a.missing);
    j.end_object();
  }
  j.end_array();
  j.end_object();
  std::fputs(j.str().c_str(), stdout);
}

void run(const VerifyArgs& args) {
  auto meta = load_metainfo_file(args.torrent);
  if (!meta) fail(with_path(args.torrent, meta.error().message), 2);
  std::error_code ec;
  if (!std::filesystem::is_directory(args.data_dir, ec)) {
    fail("data directory '" + args.data_dir + "' does not exist or is not a directory", 2);
  }
  DataStoreOptions store_options;
  store_options.read_only = true;
  auto store = DataStore::open(args.data_dir, meta->layout, store_options);
  if (!store) fail("cannot open '" + args.data_dir + "': " + store.error().message, 2);

  const FileLayout& layout = meta->layout;
  Progress progress(layout.total_size(), std::string("verifying"));
  CheckOptions check;
  check.threads = args.threads;
  check.progress = [&](std::uint32_t done, std::uint32_t total) {
    const std::uint64_t bytes =
        done >= total ? layout.total_size()
                      : std::min(layout.total_size(), std::uint64_t{done} * layout.piece_length());
    progress.update(bytes);
  };
  const std::vector<PieceState> states = check_pieces(**store, layout, meta->piece_hashes, check);
  progress.finish();
  const Report report = summarize(**store, states);
  if (args.json) {
    print_json(*meta, args, report);
  } else {
    print_text(*meta, report);
  }
  if (report.bad || report.missing) {
    fail(std::to_string(report.bad) + " bad and " + std::to_string(report.missing) +
             " missing pieces out of " + std::to_string(layout.num_pieces()),
         1);
  }
}

void setup(CLI::App& app) {
  auto args = std::make_shared<VerifyArgs>();
  auto* cmd = app.add_subcommand("verify", "Check downloaded data against a .torrent's hashes");
  cmd->add_option("torrent", args->torrent, "The .torrent file")->required();
  cmd->add_option("data_dir", args->data_dir,
                  "The directory that holds the torrent's data as DATA_DIR/<name> (a client's "
                  "download directory)")
      ->required();
  cmd->add_option("--threads", args->threads, "Hashing threads (default: one per core)")
      ->check(CLI::Range(0u, 256u));
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->footer(
      "Exit status: 0 when every piece is good, 1 when some are bad or missing, 2 when the "
      "torrent or the data directory cannot be read.");
  cmd->callback([args] { run(*args); });
}

const CommandRegistration reg(30, setup);

}  // namespace
}  // namespace torfs::tools
