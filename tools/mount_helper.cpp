// mount(8) helper argv -> `torfs mount` argv (see mount_helper.hpp).
#include "tools/mount_helper.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

namespace torfs::tools {
namespace {

// mount(8)/fstab bookkeeping that means nothing to a FUSE mount (or that torfs decides itself:
// rw/ro, the mount is always read-only).
constexpr std::array<std::string_view, 13> kDropped = {
    "defaults", "auto",    "noauto", "user", "users", "nouser", "owner",
    "group",    "_netdev", "nofail", "rw",   "ro",    "comment"};

// Options libfuse 3 (lib/mount.c and the low-level session) accepts, plus torfs's own
// `nonempty`; passed on through `-o`.
constexpr std::array<std::string_view, 34> kFuseOptions = {
    "allow_other", "allow_root", "auto_unmount", "blkdev",       "blksize",
    "context",     "fscontext",  "defcontext",   "rootcontext",  "default_permissions",
    "fsname",      "max_read",   "subtype",      "nonempty",     "debug",
    "suid",        "nosuid",     "dev",          "nodev",        "exec",
    "noexec",      "async",      "sync",         "dirsync",      "atime",
    "noatime",     "diratime",   "nodiratime",   "lazytime",     "nolazytime",
    "relatime",    "norelatime", "strictatime",  "nostrictatime"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

struct MountOption {
  std::string name;
  std::optional<std::string> value;
  std::string text;  // as written, for messages and for passing to FUSE
};

// Splits "a,b=c,d=\"x,y\"" at commas outside double quotes; quotes are removed from values.
Result<std::vector<MountOption>> split_mount_options(std::string_view list) {
  std::vector<MountOption> out;
  std::string cur;
  bool quoted = false;
  auto finish = [&]() -> Result<void> {
    if (cur.empty()) return {};
    MountOption opt;
    opt.text = cur;
    const std::size_t eq = cur.find('=');
    opt.name = cur.substr(0, eq);
    if (eq != std::string::npos) {
      std::string value = cur.substr(eq + 1);
      value.erase(std::remove(value.begin(), value.end(), '"'), value.end());
      opt.value = std::move(value);
    }
    if (opt.name.empty()) {
      return make_error(std::errc::invalid_argument, "mount option '" + cur + "' has no name");
    }
    out.push_back(std::move(opt));
    cur.clear();
    return {};
  };
  for (const char c : list) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) {
      if (auto r = finish(); !r) return r.error();
      continue;
    }
    cur.push_back(c);
  }
  if (quoted) {
    return make_error(std::errc::invalid_argument,
                      "unbalanced double quote in mount options '" + std::string(list) + "'");
  }
  if (auto r = finish(); !r) return r.error();
  return out;
}

bool is_dropped(const MountOption& opt) {
  if (contains(kDropped, opt.name)) return true;
  return opt.name.rfind("x-", 0) == 0 || opt.name.rfind("X-", 0) == 0;
}

const HelperOption* find_torfs_option(const std::vector<HelperOption>& options,
                                      std::string_view mount_name) {
  std::string dashed(mount_name);
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  for (const auto& o : options)
    if (o.name == dashed) return &o;
  return nullptr;
}

struct HelperArgs {
  std::vector<std::string> positionals;
  std::vector<std::string> option_lists;
  bool sloppy = false;
};

// Parses the flags util-linux passes: -s -f -n -v (also bundled, "-sv"), -o LIST / -oLIST,
// -t TYPE, -N NS; "--" ends options.
Result<HelperArgs> parse_helper_args(const std::vector<std::string>& args,
                                     MountHelperCommand& cmd) {
  HelperArgs out;
  bool only_positionals = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_positionals || a.size() < 2 || a[0] != '-') {
      out.positionals.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positionals = true;
      continue;
    }
    for (std::size_t j = 1; j < a.size(); ++j) {
      const char f = a[j];
      if (f == 's' || f == 'f' || f == 'n' || f == 'v') {
        if (f == 's') out.sloppy = true;
        if (f == 'f') cmd.fake = true;
        if (f == 'v') cmd.verbose = true;
        continue;  // -n: torfs writes no mtab anyway
      }
      if (f != 'o' && f != 't' && f != 'N') {
        return make_error(std::errc::invalid_argument,
                          std::string("unknown flag -") + f + " in '" + a + "'");
      }
      std::string value = a.substr(j + 1);
      if (value.empty()) {
        if (i + 1 >= args.size()) {
          return make_error(std::errc::invalid_argument, std::string("-") + f + " needs a value");
        }
        value = args[++i];
      }
      if (f == 'o') out.option_lists.push_back(value);
      if (f == 'N') cmd.mount_namespace = value;
      if (f == 't' && value != "fuse.torfs" && value != "torfs") {
        return make_error(std::errc::invalid_argument,
                          "filesystem type '" + value + "' is not torfs (use -t fuse.torfs)");
      }
      break;  // the rest of this word was the value
    }
  }
  return out;
}

// Adds one mount option to `cmd` (as a torfs flag or a FUSE option) or explains why not.
Result<void> translate_option(const MountOption& opt, const std::vector<HelperOption>& options,
                              MountHelperCommand& cmd, std::vector<std::string>& fuse) {
  if (const HelperOption* t = find_torfs_option(options, opt.name)) {
    if (t->name == "foreground") {
      return make_error(std::errc::invalid_argument,
                        "mount option 'foreground' cannot be used: mount(8) waits for torfs to "
                        "return (use `torfs mount -f` directly instead)");
    }
    if (t->takes_value && !opt.value) {
      return make_error(std::errc::invalid_argument,
                        "mount option '" + opt.name + "' needs a value (" + opt.name + "=...)");
    }
    if (!t->takes_value && opt.value) {
      return make_error(std::errc::invalid_argument,
                        "mount option '" + opt.name + "' is a flag and takes no value");
    }
    cmd.torfs_args.push_back("--" + t->name);
    if (opt.value) cmd.torfs_args.push_back(*opt.value);
    return {};
  }
  if (is_dropped(opt)) return {};
  if (contains(kFuseOptions, opt.name)) {
    fuse.push_back(opt.text);
    return {};
  }
  return make_error(std::errc::invalid_argument,
                    "unknown mount option '" + opt.text +
                        "' (not a torfs mount option, a FUSE option or a mount(8) option)");
}

}  // namespace

bool is_mount_helper_name(std::string_view argv0) {
  const std::size_t slash = argv0.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? argv0 : argv0.substr(slash + 1);
  return base == "mount.torfs" || base == "mount.fuse.torfs";
}

Result<MountHelperCommand> translate_mount_helper(const std::vector<std::string>& args,
                                                  const std::vector<HelperOption>& options) {
  MountHelperCommand cmd;
  auto parsed = parse_helper_args(args, cmd);
  if (!parsed) return parsed.error();
  if (parsed->positionals.size() != 2) {
    return make_error(std::errc::invalid_argument,
                      "expected SOURCE and MOUNTPOINT, got " +
                          std::to_string(parsed->positionals.size()) +
                          " arguments (usage: mount.torfs SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS])");
  }
  cmd.torfs_args = {"mount", parsed->positionals[0], parsed->positionals[1]};
  std::vector<std::string> fuse;
  for (const auto& list : parsed->option_lists) {
    auto opts = split_mount_options(list);
    if (!opts) return opts.error();
    for (const auto& opt : *opts) {
      auto r = translate_option(opt, options, cmd, fuse);
      if (r) continue;
      if (!parsed->sloppy) return r.error();
      cmd.warnings.push_back(r.error().message + ": ignored (-s)");
    }
  }
  if (!fuse.empty()) {
    std::string joined;
    for (const auto& f : fuse)
      joined += (joined.empty() ? "" : ",") + f;
    cmd.torfs_args.push_back("-o");
    cmd.torfs_args.push_back(joined);
  }
  return cmd;
}

std::vector<HelperOption> helper_options_of(const CLI::App& cmd) {
  std::vector<HelperOption> out;
  for (const CLI::Option* opt : cmd.get_options()) {
    if (opt == cmd.get_help_ptr() || opt == cmd.get_help_all_ptr()) continue;
    if (opt->get_lnames().empty()) continue;  // positionals and short-only options
    out.push_back({opt->get_lnames().front(), opt->get_expected_max() > 0});
  }
  return out;
}

std::string shell_quote(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    const bool plain = !w.empty() && std::all_of(w.begin(), w.end(), [](unsigned char c) {
      return std::isalnum(c) || std::string_view("-_./:=,@%+").find(c) != std::string::npos;
    });
    if (plain) {
      out += w;
      continue;
    }
    out += '\'';
    for (const char c : w)
      out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

namespace {

// Enters the mount namespace util-linux names with -N: a namespace file, or a pid.
Result<void> enter_mount_namespace(const std::string& ns) {
  const bool pid =
      std::all_of(ns.begin(), ns.end(), [](unsigned char c) { return std::isdigit(c); });
  const std::string path = pid ? "/proc/" + ns + "/ns/mnt" : ns;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_errno_error(errno, "cannot open namespace " + path + ": " + std::strerror(errno));
  const int rc = ::setns(fd, CLONE_NEWNS);
  const int err = errno;
  ::close(fd);
  if (rc != 0)
    return make_errno_error(err, "cannot enter namespace " + path + ": " + std::strerror(err));
  return {};
}

}  // namespace

std::variant<std::vector<std::string>, int> prepare_mount_helper(const CLI::App& app, int argc,
                                                                 char** argv) {
  const std::string self = argv[0];
  const std::string name = self.substr(self.rfind('/') + 1);
  std::vector<HelperOption> options;
  for (const CLI::App* sub :
       app.get_subcommands([](const CLI::App* s) { return s->get_name() == "mount"; }))
    options = helper_options_of(*sub);
  for (const CLI::Option* opt : app.get_options())
    if (opt->get_lnames() == std::vector<std::string>{"config"})
      options.push_back({"config", true});
  auto cmd = translate_mount_helper(std::vector<std::string>(argv + 1, argv + argc), options);
  if (!cmd) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), cmd.error().message.c_str());
    return 1;
  }
  for (const auto& w : cmd->warnings)
    std::fprintf(stderr, "%s: warning: %s\n", name.c_str(), w.c_str());
  std::vector<std::string> full = {"torfs"};
  full.insert(full.end(), cmd->torfs_args.begin(), cmd->torfs_args.end());
  if (cmd->fake || cmd->verbose) {
    std::fprintf(stderr, "%s: %s%s\n", name.c_str(),
                 cmd->fake ? "would run: " : "running: ", shell_quote(full).c_str());
  }
  if (cmd->fake) return 0;
  if (!cmd->mount_namespace.empty()) {
    if (auto r = enter_mount_namespace(cmd->mount_namespace); !r) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), r.error().message.c_str());
      return 1;
    }
  }
  return full;
}

}  // namespace torfs::tools
