// Resume at add time: which pieces of a torrent are verified on disk, from SQLite when the
// files are unchanged, by re-hashing when they changed behind our back or the database was
// reset. Runs on the caller's thread (check_pieces uses all cores) before the torrent starts.
#pragma once

#include <vector>

#include "cache/completion_store.hpp"
#include "cache/data_store.hpp"
#include "cache/result.hpp"
#include "engine/metainfo.hpp"
#include "engine/net/session_context.hpp"

namespace torfs {

struct ResumeState {
  std::vector<PieceIndex> have;       // verified pieces
  std::vector<PieceIndex> rechecked;  // of those, verified by re-hashing now (to commit)
};

// Loads completion of torrent `id`; pieces touching files whose size or mtime differ from the
// stored record (or that vanished) are forgotten in SQLite and re-hashed. With no stored
// pieces at all (new torrent, reset database), existing data files are re-hashed.
Result<ResumeState> load_resume_state(const Metainfo& metainfo, DataStore& data,
                                      CompletionStore& store, TorrentId id, EngineLog& log);

}  // namespace torfs
