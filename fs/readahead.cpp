#include "fs/readahead.hpp"

#include <algorithm>

namespace torfs::fs {

ReadaheadWindow::ReadaheadWindow(ReadaheadConfig config)
    : config_(config), window_(std::min(config.initial, config.max)) {}

std::uint64_t ReadaheadWindow::on_read(std::uint64_t offset, std::uint64_t length) {
  std::lock_guard lock(mutex_);
  const std::uint64_t end = offset + length;
  if (first_) {
    // A first read anywhere starts a stream with the initial window.
    first_ = false;
    next_ = end;
    return window_;
  }
  const std::uint64_t distance = offset > next_ ? offset - next_ : next_ - offset;
  if (distance <= config_.initial) {
    // Only reads that advance the stream grow the window; a reordered kernel readahead
    // request that lands behind `next_` leaves it as is.
    if (end > next_) {
      window_ = std::min(window_ * 2, config_.max);
      next_ = end;
    }
  } else {
    window_ = std::min(config_.initial, config_.max);
    next_ = end;
  }
  return window_;
}

std::uint64_t ReadaheadWindow::current() const {
  std::lock_guard lock(mutex_);
  return window_;
}

}  // namespace torfs::fs
