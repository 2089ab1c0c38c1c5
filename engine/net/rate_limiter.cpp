#include "engine/net/rate_limiter.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace torfs {

RateLimiter::RateLimiter(boost::asio::io_context& io, std::uint64_t bytes_per_second)
    : io_(io), rate_(static_cast<double>(bytes_per_second)), tokens_(0), last_(Clock::now()) {}

boost::asio::awaitable<void> RateLimiter::acquire(std::size_t bytes) {
  if (rate_ <= 0) co_return;
  const auto now = Clock::now();
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(tokens_ + elapsed * rate_, rate_ * 0.1);
  tokens_ -= static_cast<double>(bytes);
  if (tokens_ >= 0) co_return;
  boost::asio::steady_timer timer(io_);
  timer.expires_after(
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(-tokens_ / rate_)));
  co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

}  // namespace torfs
