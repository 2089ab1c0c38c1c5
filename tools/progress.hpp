// A progress display for long-running commands (create, verify, download, mount, seed).
//
// On a terminal (progress_on_terminal()) it redraws one line on stderr at most ~10 times a
// second:  "hashing  42.0% [########------------] 430 MiB / 1.00 GiB  310 MiB/s  ETA 0:02  <extra>"
// Otherwise (a log file, a pipe, TORFS_NO_PROGRESS set) it prints a plain line every few seconds,
// so logs stay readable. update() and finish() are thread-safe; update() is cheap when nothing is
// drawn, so hashing threads may call it often.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace torfs::tools {

// "512 B", "1.5 KiB", "430 MiB", "1.00 GiB": three significant digits, binary units.
std::string format_bytes(std::uint64_t bytes);
// "0:07", "12:34", "1:02:03"; "--:--" for negative or absurd values.
std::string format_duration(double seconds);

class Progress {
 public:
  enum class Unit { bytes, count };
  struct Options {
    std::string label;             // e.g. "hashing"
    Unit unit = Unit::bytes;       // count: plain numbers followed by count_name
    std::string count_name;        // e.g. "pieces"
    std::FILE* out = stderr;       // where to draw
    std::optional<bool> terminal;  // default: progress_on_terminal()
    double plain_interval_seconds = 5.0;
  };

  // total = 0 means unknown: no percentage, bar nor ETA.
  Progress(std::uint64_t total, Options options);
  // Bytes, on stderr, with the given label.
  Progress(std::uint64_t total, std::string label);
  // Calls finish() if it was not called.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Reports `done` units (absolute, not a delta) and optional extra text (e.g. "12 peers").
  void update(std::uint64_t done, std::string_view extra = {});
  void set_total(std::uint64_t total);
  // Draws the final state and ends the line. Later calls do nothing.
  void finish(std::string_view extra = {});

 private:
  using Clock = std::chrono::steady_clock;
  void draw(Clock::time_point now, bool final);
  double rate(Clock::time_point now) const;
  std::string amount(std::uint64_t n) const;
  std::string status_text(Clock::time_point now, bool final) const;

  std::mutex mutex_;
  Options options_;
  bool terminal_;
  bool finished_ = false;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  std::string extra_;
  Clock::time_point start_;
  Clock::time_point last_draw_{};
  bool drawn_ = false;
  std::deque<std::pair<Clock::time_point, std::uint64_t>> samples_;  // for the recent rate
};

}  // namespace torfs::tools
