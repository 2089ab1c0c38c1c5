// torfs info FILE.torrent [--json]: what a .torrent contains.
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "engine/metainfo.hpp"
#include "tools/command.hpp"
#include "tools/json_writer.hpp"
#include "tools/progress.hpp"

namespace torfs::tools {
namespace {

// load_metainfo_file's messages usually name the file already.
std::string with_path(const std::string& path, const std::string& message) {
  return message.find(path) != std::string::npos ? message : path + ": " + message;
}

struct InfoArgs {
  std::string torrent;
  bool json = false;
};

std::string format_date(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (!gmtime_r(&tt, &tm)) return std::to_string(t);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string size_text(std::uint64_t bytes) {
  return std::to_string(bytes) + " bytes (" + format_bytes(bytes) + ")";
}

void print_text(const Metainfo& m) {
  const FileLayout& layout = m.layout;
  std::printf("name:         %s\n", m.name.c_str());
  std::printf("info-hash:    %s\n", to_hex(m.info_hash).c_str());
  std::printf("total size:   %s\n", size_text(layout.total_size()).c_str());
  std::printf("pieces:       %u x %s (%u bytes)\n", layout.num_pieces(),
              format_bytes(layout.piece_length()).c_str(), layout.piece_length());
  std::printf("private:      %s\n", m.is_private ? "yes" : "no");
  if (!m.comment.empty()) std::printf("comment:      %s\n", m.comment.c_str());
  if (!m.created_by.empty()) std::printf("created by:   %s\n", m.created_by.c_str());
  if (m.creation_date) std::printf("created on:   %s\n", format_date(*m.creation_date).c_str());
  std::printf("trackers:%s\n", m.tracker_tiers.empty() ? "     none" : "");
  for (std::size_t t = 0; t < m.tracker_tiers.size(); ++t) {
    for (const auto& url : m.tracker_tiers[t])
      std::printf("  tier %zu: %s\n", t + 1, url.c_str());
  }
  std::printf("web seeds:%s\n", m.web_seeds.empty() ? "    none" : "");
  for (const auto& url : m.web_seeds)
    std::printf("  %s\n", url.c_str());
  std::size_t pads = 0;
  for (const auto& f : layout.files())
    pads += f.pad;
  std::printf("files:        %zu%s\n", layout.files().size() - pads,
              pads ? (" (+" + std::to_string(pads) + " pad files, not shown)").c_str() : "");
  for (const auto& f : layout.files()) {
    if (f.pad) continue;
    std::printf("  %12llu  %s%s\n", static_cast<unsigned long long>(f.size), f.path.c_str(),
                f.executable ? "  [executable]" : "");
  }
  for (const auto& w : m.warnings)
    std::printf("warning: %s\n", w.c_str());
}

void print_json(const Metainfo& m) {
  const FileLayout& layout = m.layout;
  JsonWriter j(2);
  j.begin_object();
  j.field("name", m.name);
  j.field("info_hash", to_hex(m.info_hash));
  j.field("total_size", layout.total_size());
  j.field("piece_length", layout.piece_length());
  j.field("num_pieces", layout.num_pieces());
  j.field("multi_file", m.multi_file);
  j.field("private", m.is_private);
  j.key("files").begin_array();
  for (const auto& f : layout.files()) {
    j.begin_object().field("path", f.path).field("size", f.size).field("offset", f.offset);
    if (f.pad) j.field("pad", true);
    if (f.executable) j.field("executable", true);
    if (f.hidden) j.field("hidden", true);
    j.end_object();
  }
  j.end_array();
  j.key("trackers").begin_array();
  for (const auto& tier : m.tracker_tiers) {
    for (const auto& url : tier)
      j.value(url);
  }
  j.end_array();
  j.key("tiers").begin_array();
  for (const auto& tier : m.tracker_tiers) {
    j.begin_array();
    for (const auto& url : tier)
      j.value(url);
    j.end_array();
  }
  j.end_array();
  j.key("web_seeds").begin_array();
  for (const auto& url : m.web_seeds)
    j.value(url);
  j.end_array();
  j.field("comment", m.comment);
  j.field("created_by", m.created_by);
  j.key("creation_date");
  if (m.creation_date) {
    j.value(*m.creation_date);
  } else {
    j.null();
  }
  j.key("warnings").begin_array();
  for (const auto& w : m.warnings)
    j.value(w);
  j.end_array();
  j.end_object();
  std::fputs(j.str().c_str(), stdout);
}

void run(const InfoArgs& args) {
  auto meta = load_metainfo_file(args.torrent);
  if (!meta) fail(with_path(args.torrent, meta.error().message), 2);
  if (args.json) {
    print_json(*meta);
  } else {
    print_text(*meta);
  }
}

void setup(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  auto* cmd = app.add_subcommand("info", "Show what a .torrent file contains");
  cmd->add_option("torrent", args->torrent, "The .torrent file")->required();
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->footer(
      "Exit status: 0 on success, 2 when the file cannot be read or is not a valid torrent.");
  cmd->callback([args] { run(*args); });
}

const CommandRegistration reg(10, setup);

}  // namespace
}  // namespace torfs::tools
