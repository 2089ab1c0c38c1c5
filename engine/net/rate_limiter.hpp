// RateLimiter: a token bucket shared by every peer of a session (one for uploads, one for
// downloads). Engine thread only.
//
// Peers pay after the fact: a reader that received n bytes (or a writer about to send n) calls
// acquire(n); the bucket may go into debt and the caller sleeps until the debt is repaid, so the
// long-run rate is the limit whatever the read sizes. The bucket holds at most 100 ms of tokens,
// which bounds bursts.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

namespace torfs {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // bytes_per_second 0 = unlimited (acquire never waits).
  RateLimiter(boost::asio::io_context& io, std::uint64_t bytes_per_second);

  bool limited() const { return rate_ > 0; }
  boost::asio::awaitable<void> acquire(std::size_t bytes);

 private:
  boost::asio::io_context& io_;
  double rate_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace torfs
