// torfs status [MOUNTPOINT] [--json] [--watch] [--interval SECONDS] [--png FILE]
// What running mounts are doing: per torrent and per file progress, rates, peers, ratio and a
// piece map. Asks each mount's control channel (tools/control_server.hpp); without a
// mountpoint, every live mount of this user.
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tools/command.hpp"
#include "tools/control_server.hpp"
#include "tools/json_writer.hpp"
#include "tools/status_render.hpp"
#include "tools/status_report.hpp"

namespace torfs::tools {
namespace {

namespace stdfs = std::filesystem;

// Exit status: 0 success, 1 errors (permission, protocol, writing the PNG), 2 bad arguments,
// 3 no torfs mount at the given mountpoint.
constexpr int kExitNoMount = 3;

struct StatusArgs {
  std::string mountpoint;
  bool json = false;
  bool watch = false;
  double interval = 1.0;
  std::string png;
};

volatile std::sig_atomic_t interrupted = 0;
extern "C" void on_interrupt(int) {
  interrupted = 1;
}

[[noreturn]] void fail_no_mount(const std::string& mountpoint, const std::string& why = {}) {
  fail("no torfs mount at " + mountpoint + (why.empty() ? "" : " (" + why + ")"), kExitNoMount);
}

// The status of the mount on `mountpoint`; fails (exits) with a clear message otherwise.
MountStatus fetch_one(const std::string& mountpoint) {
  std::error_code ec;
  const stdfs::path canonical = stdfs::canonical(mountpoint, ec);
  if (ec) fail_no_mount(mountpoint, ec.message());
  const stdfs::path dir = control_dir();
  if (auto checked = check_control_dir(dir); !checked) {
    if (checked.error().code == std::errc::no_such_file_or_directory) fail_no_mount(mountpoint);
    fail(checked.error().message, 1);
  }
  const stdfs::path socket = control_socket_path(dir, canonical);
  auto json = request_status(socket);
  if (!json) {
    const auto code = json.error().code;
    if (code == std::errc::no_such_file_or_directory) fail_no_mount(mountpoint);
    if (code == std::errc::connection_refused) {
      ::unlink(socket.c_str());
      fail_no_mount(mountpoint, "its mount process is gone; removed a stale control socket");
    }
    fail(mountpoint + ": " + json.error().message, 1);
  }
  auto status = parse_status_json(*json);
  if (!status) fail(mountpoint + ": " + status.error().message, 1);
  return std::move(*status);
}

// Every live mount of this user; the ones that answer badly are reported and skipped.
std::vector<MountStatus> fetch_all() {
  auto answers = query_all_mounts(control_dir());
  if (!answers) fail(answers.error().message, 1);
  std::vector<MountStatus> out;
  for (const ControlAnswer& a : *answers) {
    if (!a.json) {
      std::fprintf(stderr, "torfs: %s: %s\n", a.socket.c_str(), a.json.error().message.c_str());
      continue;
    }
    auto status = parse_status_json(*a.json);
    if (!status) {
      std::fprintf(stderr, "torfs: %s: %s\n", a.socket.c_str(), status.error().message.c_str());
      continue;
    }
    out.push_back(std::move(*status));
  }
  return out;
}

bool stdout_is_terminal() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) && !(term && std::string(term) == "dumb");
}

int stdout_width() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  return 80;
}

std::string render(const StatusArgs& args, const std::vector<MountStatus>& mounts, bool terminal) {
  if (args.json) {
    const int indent = args.watch ? 0 : 2;  // --watch: one document per line
    if (!args.mountpoint.empty()) {
      std::string out = status_to_json(mounts.front(), indent);
      return indent ? out : out + "\n";
    }
    JsonWriter j(indent);
    j.begin_object().key("mounts").begin_array();
    for (const MountStatus& m : mounts)
      write_status_json(j, m);
    j.end_array().end_object();
    return indent ? j.str() : j.str() + "\n";
  }
  if (mounts.empty()) return "no torfs mounts\n";
  TextStyle style;
  style.terminal = terminal;
  style.width = terminal ? stdout_width() : 80;
  std::string out;
  for (const MountStatus& m : mounts) {
    if (!out.empty()) out += "\n";
    out += render_status_text(m, style);
  }
  return out;
}

void write_png(const std::string& path, const std::vector<MountStatus>& mounts) {
  std::vector<TorrentStatus> torrents;
  for (const MountStatus& m : mounts)
    torrents.insert(torrents.end(), m.torrents.begin(), m.torrents.end());
  auto image = piece_map_image(torrents);
  if (!image) fail("cannot draw the piece map: " + image.error().message, 1);
  if (auto written = write_png_file(path, *image); !written) fail(written.error().message, 1);
}

void run(const StatusArgs& args) {
  if (!(args.interval >= 0.1)) fail("--interval must be at least 0.1 seconds", 2);
  const bool terminal = stdout_is_terminal();
  if (args.watch) {
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  }
  while (!interrupted) {
    const std::vector<MountStatus> mounts =
        args.mountpoint.empty() ? fetch_all()
                                : std::vector<MountStatus>{fetch_one(args.mountpoint)};
    std::string out = render(args, mounts, terminal);
    if (args.watch && terminal && !args.json) out.insert(0, "\x1b[H\x1b[2J");
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    if (!args.png.empty()) write_png(args.png, mounts);
    if (!args.watch) return;
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(args.interval));
    while (!interrupted && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void setup(CLI::App& app) {
  auto args = std::make_shared<StatusArgs>();
  auto* cmd = app.add_subcommand("status", "Show what running mounts are doing");
  cmd->add_option("mountpoint", args->mountpoint,
                  "A torfs mountpoint (default: every torfs mount of this user)");
  cmd->add_flag("--json", args->json, "Print the status document as JSON");
  cmd->add_flag("--watch", args->watch,
                "Refresh until interrupted (with --json: one document per line)");
  cmd->add_option("--interval", args->interval, "Seconds between refreshes with --watch")
      ->capture_default_str();
  cmd->add_option("--png", args->png, "Also draw the piece map into this PNG file");
  cmd->footer(
      "Exit status: 0 on success, 1 on errors (permission denied, a mount that does not "
      "answer, the PNG cannot be written), 2 for bad arguments, 3 when there is no torfs mount "
      "at MOUNTPOINT.");
  cmd->callback([args] { run(*args); });
}

const CommandRegistration reg(70, setup);

}  // namespace
}  // namespace torfs::tools
