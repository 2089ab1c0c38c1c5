#include "engine/net/resume.hpp"

#include <algorithm>

#include "cache/piece_checker.hpp"

namespace torfs {

namespace {

// Pieces touching any file in `files` (sorted, unique).
std::vector<PieceIndex> pieces_of_files(const FileLayout& layout,
                                        const std::vector<FileIndex>& files) {
  std::vector<bool> mark(layout.num_pieces(), false);
  for (FileIndex f : files) {
    const PieceRange r = layout.pieces_for_file(f);
    for (PieceIndex p = r.begin; p < r.end; ++p)
      mark[p.value()] = true;
  }
  std::vector<PieceIndex> out;
  for (std::uint32_t p = 0; p < mark.size(); ++p) {
    if (mark[p]) out.emplace_back(p);
  }
  return out;
}

}  // namespace

Result<ResumeState> load_resume_state(const Metainfo& metainfo, DataStore& data,
                                      CompletionStore& store, TorrentId id, EngineLog& log) {
  const FileLayout& layout = metainfo.layout;
  auto stored = store.load_pieces(id);
  if (!stored) return std::move(stored).take_error();
  auto records = store.load_files(id);
  if (!records) return std::move(records).take_error();

  std::vector<FileIndex> suspect;  // files whose pieces must be re-hashed
  ResumeState state;
  if (stored->empty()) {
    for (FileIndex f(0); f.value() < layout.num_files(); ++f) {
      const FileEntry& e = layout.file(f);
      if (e.size == 0 || e.pad) continue;
      if (data.file_state(f).exists) suspect.push_back(f);
    }
    if (!suspect.empty()) {
      log(LogLevel::info, metainfo.name, ": no saved completion",
          store.was_reset() ? " (database was reset)" : "", "; re-checking ", suspect.size(),
          " existing file(s)");
    }
  } else {
    for (const FileRecord& r : *records) {
      if (r.file.value() >= layout.num_files()) continue;
      const auto st = data.file_state(r.file);
      if (!st.exists || st.size != r.size || st.mtime_ns != r.mtime_ns) suspect.push_back(r.file);
    }
    std::vector<PieceIndex> drop = pieces_of_files(layout, suspect);
    std::vector<PieceIndex> keep;
    for (PieceIndex p : *stored) {
      if (p.value() >= layout.num_pieces()) continue;
      if (!std::binary_search(drop.begin(), drop.end(), p)) keep.push_back(p);
    }
    if (!suspect.empty()) {
      log(LogLevel::info, metainfo.name, ": ", suspect.size(),
          " file(s) changed since the last run; re-checking their pieces");
      std::vector<PieceIndex> forget;
      std::set_intersection(stored->begin(), stored->end(), drop.begin(), drop.end(),
                            std::back_inserter(forget));
      if (auto r = store.remove_pieces(id, forget); !r) return std::move(r).take_error();
    }
    state.have = std::move(keep);
  }
  if (suspect.empty()) return state;

  CheckOptions options;
  options.only = pieces_of_files(layout, suspect);
  const auto states = check_pieces(data, layout, metainfo.piece_hashes, options);
  for (PieceIndex p : options.only) {
    if (states[p.value()] == PieceState::good) state.rechecked.push_back(p);
  }
  log(LogLevel::info, metainfo.name, ": re-check found ", state.rechecked.size(), " of ",
      options.only.size(), " piece(s) good");
  state.have.insert(state.have.end(), state.rechecked.begin(), state.rechecked.end());
  std::sort(state.have.begin(), state.have.end());
  state.have.erase(std::unique(state.have.begin(), state.have.end()), state.have.end());
  return state;
}

}  // namespace torfs
