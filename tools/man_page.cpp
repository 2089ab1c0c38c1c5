// torfs(1) from the CLI11 App (see man_page.hpp).
#include "tools/man_page.hpp"

#include <algorithm>
#include <cctype>

namespace torfs::tools {
namespace {

std::string bold(std::string_view s) {
  return "\\fB" + troff_escape(s) + "\\fR";
}
std::string italic(std::string_view s) {
  return "\\fI" + troff_escape(s) + "\\fR";
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// "-f, --foreground" in bold, then the value's type in italics for options that take one.
std::string option_label(const CLI::Option* opt) {
  std::string names;
  for (const auto& s : opt->get_snames())
    names += (names.empty() ? "" : ", ") + bold("-" + s);
  for (const auto& l : opt->get_lnames())
    names += (names.empty() ? "" : ", ") + bold("--" + l);
  if (opt->get_expected_max() > 0) names += " " + italic(opt->get_type_name());
  return names;
}

std::string option_text(const CLI::Option* opt) {
  std::string text = troff_escape(opt->get_description());
  if (!opt->get_default_str().empty()) {
    text += " (default: " + troff_escape(opt->get_default_str()) + ")";
  }
  std::string lower = opt->get_description();
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (opt->get_items_expected_max() > 1 && lower.find("repeatable") == std::string::npos) {
    text += "; repeatable";
  }
  return text;
}

// The options (or the positionals) of `cmd`; a command's own -h is left out (said once, under
// GLOBAL OPTIONS).
void render_options(std::string& out, const CLI::App& cmd, bool positionals) {
  for (const CLI::Option* opt : cmd.get_options()) {
    if (opt->get_positional() != positionals) continue;
    if (opt->get_group().empty()) continue;  // hidden
    if (cmd.get_parent() != nullptr && opt == cmd.get_help_ptr()) continue;
    out += ".TP\n";
    out += positionals ? italic(upper(opt->get_name(true))) : option_label(opt);
    out += "\n" + option_text(opt) + "\n";
  }
}

void render_command(std::string& out, const CLI::App& cmd) {
  std::string synopsis = "torfs " + cmd.get_name();
  for (const CLI::Option* opt : cmd.get_options())
    if (opt->get_positional()) synopsis += " " + upper(opt->get_name(true));
  synopsis += " [OPTIONS]";
  out += ".SS \"" + troff_escape(synopsis) + "\"\n";
  out += troff_escape(cmd.get_description()) + "\n";
  render_options(out, cmd, true);
  render_options(out, cmd, false);
  if (!cmd.get_footer().empty()) out += ".PP\n" + troff_escape(cmd.get_footer()) + "\n";
}

// Hand-written parts: what the CLI's help text has no place for.
constexpr std::string_view kHelperSection = R"(.SH "MOUNT(8) AND FSTAB"
The binary is also a mount helper: installed as /sbin/mount.fuse.torfs (a symlink to torfs),
`mount \-t fuse.torfs SOURCE DIR \-o OPTIONS' and fstab lines of type fuse.torfs run
`torfs mount'. Every long option of `torfs mount' is a mount option with `_' for `\-'
(data_dir=DIR, on_demand, peer=ADDR:PORT, repeatable); FUSE options (allow_other,
default_permissions, nonempty, ...) pass through; defaults, auto, noauto, user, users, _netdev,
nofail, x-* and rw/ro are accepted and ignored (the mount is always read-only). Example line:
.PP
.nf
/srv/t/x.torrent /mnt/x fuse.torfs ro,noauto,data_dir=/srv/torfs-data,allow_other 0 0
.fi
.PP
Unmount with umount(8) as root, fusermount3 \-u as a user.
)";

constexpr std::string_view kTrailer = R"(.SH FILES
.TP
$XDG_CONFIG_HOME/torfs/config.toml (default ~/.config/torfs/config.toml)
Option defaults for every command, TOML: top-level keys apply to every command that has the
option, [COMMAND] sections to one command; the command line wins.
.TP
$XDG_DATA_HOME/torfs/torfs.db
The SQLite completion database; data goes to $XDG_DATA_HOME/torfs/data/INFO-HASH/ unless
\-\-data\-dir says otherwise.
.SH ENVIRONMENT
.TP
TORFS_NO_PROGRESS
Print plain status lines instead of progress bars.
.TP
XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_RUNTIME_DIR
Where the config file, the data and the control sockets live.
.SH "SEE ALSO"
fusermount3(1), mount(8), fstab(5), mount.fuse3(8)
)";

}  // namespace

std::string troff_escape(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (const char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

std::string render_man_page(const CLI::App& app, std::string_view version) {
  std::string description = app.get_description();
  if (description.rfind("torfs: ", 0) == 0) description.erase(0, 7);
  std::string out;
  out += ".TH TORFS 1 \"\" \"torfs " + troff_escape(version) + "\" \"User Commands\"\n";
  out += ".ad l\n.hy 0\n";
  out += ".SH NAME\ntorfs \\- " + troff_escape(description) + "\n";
  out += ".SH SYNOPSIS\n" + bold("torfs") + " [" + bold("--config") + " " + italic("FILE") + "] " +
         italic("COMMAND") + " [" + italic("OPTIONS") + "]\n.br\n" + bold("mount.fuse.torfs") +
         " " + italic("SOURCE") + " " + italic("MOUNTPOINT") + " [" + bold("-sfnv") + "] [" +
         bold("-o") + " " + italic("OPTIONS") + "]\n";
  std::string sentence = description;
  if (!sentence.empty()) sentence[0] = static_cast<char>(std::toupper(sentence[0]));
  out += ".SH DESCRIPTION\n" + troff_escape(sentence) +
         ". Each command below has its own options; `torfs COMMAND \\-\\-help' prints them too.\n";
  out += ".SH \"GLOBAL OPTIONS\"\n";
  render_options(out, app, false);
  out += ".SH COMMANDS\n";
  for (const CLI::App* cmd : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (cmd->get_group().empty()) continue;  // hidden commands
    render_command(out, *cmd);
  }
  out += kHelperSection;
  out += kTrailer;
  return out;
}

}  // namespace torfs::tools
