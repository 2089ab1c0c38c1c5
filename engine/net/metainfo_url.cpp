// fetch_metainfo_url: a .torrent given as an http(s) URL, fetched with the HTTP tracker
// client's bounded GET on a private io_context.
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "engine/net/http_tracker.hpp"
#include "engine/session.hpp"

namespace torfs {

Result<Metainfo> fetch_metainfo_url(const std::string& url, std::chrono::milliseconds timeout,
                                    const MetainfoLimits& limits) {
  TrackerConfig config;
  config.http_timeout = timeout;
  config.http_max_body = limits.max_torrent_size;
  boost::asio::io_context io(1);
  std::optional<Result<std::string>> body;
  boost::asio::co_spawn(
      io, [&]() -> boost::asio::awaitable<void> { body.emplace(co_await http_get(url, config)); },
      boost::asio::detached);
  io.run();
  if (!body) return make_error(std::errc::io_error, "fetching " + url + " did not finish");
  if (!*body) {
    Error e = body->error();
    e.message = "cannot fetch the torrent: " + e.message;
    return e;
  }
  auto meta = parse_metainfo(**body, limits);
  if (!meta) {
    Error e = meta.error();
    e.message = "the torrent at the URL is invalid: " + e.message;
    return e;
  }
  return meta;
}

}  // namespace torfs
