// torfs as a mount(8) helper. `mount -t fuse.torfs SOURCE DIR -o OPTS` (or an fstab line of
// type fuse.torfs) makes util-linux exec /sbin/mount.fuse.torfs, a symlink to the torfs binary,
// as
//     mount.fuse.torfs SOURCE DIR [-s] [-f] [-n] [-v] [-o OPTS] [-t TYPE] [-N NAMESPACE]
// The translation to `torfs mount SOURCE DIR --flags... -o fuse_opts` is a pure function of that
// argv and the option list of `torfs mount`, so every long option of `torfs mount` is available
// as a mount option with `_` for `-` (data_dir=DIR, on_demand, peer=ADDR:PORT repeated, ...).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cache/result.hpp"

namespace torfs::tools {

// A long option the helper may produce, without its dashes ("data-dir").
struct HelperOption {
  std::string name;
  bool takes_value = true;  // false: a flag (`on_demand` -> `--on-demand`)
};

struct MountHelperCommand {
  // Arguments for torfs after argv[0]: "mount", SOURCE, DIR, then the translated options.
  std::vector<std::string> torfs_args;
  bool fake = false;                  // -f: print what would run, mount nothing
  bool verbose = false;               // -v: print the translated command before running it
  std::string mount_namespace;        // -N: a namespace file (or a pid) to mount in; "" = ours
  std::vector<std::string> warnings;  // options ignored under -s (sloppy), one line each
};

// True when argv[0] names the helper: basename "mount.torfs" or "mount.fuse.torfs".
bool is_mount_helper_name(std::string_view argv0);

// Translates the helper's arguments (argv without argv[0]). `options` are the long options of
// `torfs mount` (and the root's --config). Option rules, in order:
//  - a torfs option (`_` read as `-`): `name=value` -> `--name value`, a bare flag `name` ->
//    `--name`; `foreground` is refused (mount(8) waits for the helper to return);
//  - dropped, being mount(8)/fstab bookkeeping: defaults, auto, noauto, user[=NAME], users,
//    nouser, owner, group, _netdev, nofail, comment=..., x-* and X-*; also rw and ro: torfs is
//    always mounted read-only, so rw is accepted and ignored (util-linux passes rw by default);
//  - FUSE and kernel mount options (allow_other, default_permissions, nonempty, max_read=N,
//    fsname=, nosuid, noatime, ...) are collected into one `-o` for torfs;
//  - anything else is an error naming the option, or with -s a warning and ignored.
// Values may be double-quoted to protect commas (peer="a,b" is one value).
// Fails with a message naming the bad argument or option.
Result<MountHelperCommand> translate_mount_helper(const std::vector<std::string>& args,
                                                  const std::vector<HelperOption>& options);

// The long options of `cmd` (its own, with help excluded) as HelperOptions.
std::vector<HelperOption> helper_options_of(const CLI::App& cmd);

// The impure rest of helper mode, for main(): translates argv (argv[0] the helper's name) with
// the options of `app`'s mount command, prints warnings, the command for -v, enters the -N
// namespace, and returns the argv to parse ("torfs", "mount", ...), or an exit status when
// there is nothing more to do (-f fake mode: 0; a bad option: 1, as mount helpers do).
std::variant<std::vector<std::string>, int> prepare_mount_helper(const CLI::App& app, int argc,
                                                                 char** argv);

// `words` as one line a shell would split back into the same words (for -f and -v).
std::string shell_quote(const std::vector<std::string>& words);

}  // namespace torfs::tools
