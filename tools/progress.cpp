#include "tools/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "tools/command.hpp"

namespace torfs::tools {
namespace {

constexpr auto kTerminalInterval = std::chrono::milliseconds(100);
constexpr auto kRateWindow = std::chrono::seconds(5);

std::string printf_string(const char* format, double v, const char* unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v, unit);
  return buf;
}

int terminal_width(std::FILE* out) {
  winsize ws{};
  if (::ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  return 80;
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (v >= 1024 && unit < 5) {
    v /= 1024;
    ++unit;
  }
  // Round first so that e.g. 9.999 prints as "10.0", not "10.00".
  if (std::round(v * 100) / 100 < 10) return printf_string("%.2f %s", v, kUnits[unit]);
  if (std::round(v * 10) / 10 < 100) return printf_string("%.1f %s", v, kUnits[unit]);
  return printf_string("%.0f %s", v, kUnits[unit]);
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 99.0 * 24 * 3600) return "--:--";
  const auto total = static_cast<long long>(std::llround(seconds));
  const long long h = total / 3600, m = total / 60 % 60, s = total % 60;
  char buf[32];
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", h, m, s);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", m, s);
  }
  return buf;
}

Progress::Progress(std::uint64_t total, Options options)
    : options_(std::move(options)),
      terminal_(options_.terminal.value_or(progress_on_terminal())),
      total_(total),
      start_(Clock::now()) {
  samples_.emplace_back(start_, 0);
}

Progress::Progress(std::uint64_t total, std::string label)
    : Progress(total, [&] {
        Options o;
        o.label = std::move(label);
        return o;
      }()) {}

Progress::~Progress() {
  finish();
}

void Progress::set_total(std::uint64_t total) {
  std::lock_guard lock(mutex_);
  total_ = total;
}

void Progress::update(std::uint64_t done, std::string_view extra) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  if (finished_) return;
  done_ = done;
  if (!extra.empty() || !extra_.empty()) extra_.assign(extra);
  const auto interval = terminal_
                            ? std::chrono::duration_cast<Clock::duration>(kTerminalInterval)
                            : std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(options_.plain_interval_seconds));
  const auto since = drawn_ ? last_draw_ : start_;
  if (now - since < interval) return;
  draw(now, false);
}

void Progress::finish(std::string_view extra) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  if (finished_) return;
  if (!extra.empty()) extra_.assign(extra);
  // A plain log gets a final line only when the run was long enough to print progress lines,
  // or when there is something to say; a terminal always shows the final state.
  if (terminal_ || drawn_ || !extra_.empty()) draw(now, true);
  finished_ = true;
}

double Progress::rate(Clock::time_point now) const {
  const auto& [t0, d0] = samples_.front();
  const double seconds = std::chrono::duration<double>(now - t0).count();
  if (seconds < 0.05 || done_ < d0) return 0;
  return static_cast<double>(done_ - d0) / seconds;
}

std::string Progress::amount(std::uint64_t n) const {
  if (options_.unit == Unit::bytes) return format_bytes(n);
  std::string s = std::to_string(n);
  return options_.count_name.empty() ? s : s + " " + options_.count_name;
}

// Everything but the bar: "42.0%", amounts, rate, ETA (or elapsed time when final).
std::string Progress::status_text(Clock::time_point now, bool final) const {
  std::string s;
  if (total_ > 0) {
    const double pct = 100.0 * static_cast<double>(std::min(done_, total_)) / total_;
    s += printf_string("%5.1f%s", pct, "%");
    s += "  ";
    s += options_.unit == Unit::bytes ? format_bytes(done_) + " / " + format_bytes(total_)
                                      : std::to_string(done_) + " / " + amount(total_);
  } else {
    s += amount(done_);
  }
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double r = final ? (elapsed > 0 ? done_ / elapsed : 0) : rate(now);
  if (r > 0) {
    s += "  ";
    s += options_.unit == Unit::bytes ? format_bytes(static_cast<std::uint64_t>(r)) + "/s"
                                      : printf_string("%.1f %s/s", r, options_.count_name.c_str());
  }
  if (final) {
    s += "  in " + format_duration(elapsed);
  } else if (total_ > done_ && r > 0) {
    s += "  ETA " + format_duration(static_cast<double>(total_ - done_) / r);
  }
  return s;
}

void Progress::draw(Clock::time_point now, bool final) {
  samples_.emplace_back(now, done_);
  while (samples_.size() > 2 && now - samples_.front().first > kRateWindow)
    samples_.pop_front();
  last_draw_ = now;
  drawn_ = true;
  const std::string status = status_text(now, final);
  std::string line = options_.label.empty() ? "" : options_.label + " ";
  if (!terminal_) {
    line += status;
    if (!extra_.empty()) line += "  " + extra_;
    std::fprintf(options_.out, "%s\n", line.c_str());
    std::fflush(options_.out);
    return;
  }
  const int width = terminal_width(options_.out) - 1;  // never touch the last column: no wrap
  if (total_ > 0) {
    const int room = width - static_cast<int>(line.size() + status.size()) - 3;
    const int bar = std::clamp(room, 0, 30);
    if (bar >= 10) {
      const int filled =
          static_cast<int>(static_cast<double>(bar) * std::min(done_, total_) / total_);
      line += "[" + std::string(filled, '#') + std::string(bar - filled, '-') + "] ";
    }
  }
  line += status;
  if (!extra_.empty()) line += "  " + extra_;
  if (static_cast<int>(line.size()) > width) line.resize(std::max(width, 0));
  std::fprintf(options_.out, "\r%s\x1b[K%s", line.c_str(), final ? "\n" : "");
  std::fflush(options_.out);
}

}  // namespace torfs::tools
