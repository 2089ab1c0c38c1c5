// What the HTTP clients of engine/net (trackers, .torrent URLs, web seeds) share: parsing an
// http(s) URL into where to connect and what to ask, and setting up a verifying TLS client.
// Internal to engine/net (includes Boost.Asio SSL).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/result.hpp"

namespace torfs {

struct HttpUrl {
  bool tls = false;
  std::string host;         // without brackets: for DNS, SNI and certificate checks
  std::string host_header;  // as in the URL, with the port when given
  std::uint16_t port = 0;
  std::string target;  // path and query
};

// URLs in messages are cut short: announce URLs are long and may carry a passkey at the end.
std::string shorten_url(std::string_view url, std::size_t max = 120);

// An http:// or https:// URL. Errors (invalid_argument: malformed or without a host;
// protocol_not_supported: another scheme) say "<what> URL" and quote the URL, shortened.
Result<HttpUrl> parse_http_url(std::string_view url, std::string_view what);

// Creates `ctx` (if empty) as a TLS client context that trusts the system CAs plus `ca_file`
// (when not empty). On failure `ctx` stays empty and the error says which step failed.
Result<void> init_tls_client(std::optional<boost::asio::ssl::context>& ctx,
                             const std::string& ca_file);

// Makes `stream` verify the peer's chain and that its certificate names `host`, and sends the
// host as SNI unless it is an IP literal.
Result<void> prepare_tls_stream(boost::beast::ssl_stream<boost::beast::tcp_stream>& stream,
                                const std::string& host);

}  // namespace torfs
