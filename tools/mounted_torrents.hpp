// What a running mount serves, for the control channel (`torfs status`): a snapshot of every
// mounted torrent with the name it has in the mount. A single-torrent mount lists one entry
// (the name is its metainfo name); a directory mount lists one per top-level directory.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/torrent_view.hpp"

namespace torfs::tools {

struct MountedTorrent {
  std::string name;  // the top-level directory in a directory mount; the metainfo name otherwise
  std::shared_ptr<TorrentView> view;
};

// Returns the torrents mounted at the moment of the call. Thread-safe: may be called from any
// thread while the mount runs (a copy is returned; the views stay alive while held).
using TorrentLister = std::function<std::vector<MountedTorrent>()>;

}  // namespace torfs::tools
