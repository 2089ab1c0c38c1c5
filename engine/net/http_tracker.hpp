// HTTP(S) tracker client (BEP 3): one announce = one GET with a total deadline. Internal to
// engine/net; only http_tracker.cpp includes Boost.Beast and OpenSSL.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "cache/result.hpp"
#include "engine/net/tracker_manager.hpp"
#include "engine/tracker_proto.hpp"

namespace torfs {

// GETs `url` (an announce URL from build_announce_url; http:// or https://) and parses the
// response. Bounded by config.http_timeout in total (DNS, connect, TLS handshake, every
// redirect, the body), config.http_max_redirects redirects (a loop is an error) and
// config.http_max_body bytes of body (an endless chunked body is cut off with an error).
// https verifies the certificate chain against the system CAs (+ config.ca_file) and the host
// name. Errors name the URL's host and what failed; a tracker's `failure reason` is returned
// as its text (also with a non-200 status).
boost::asio::awaitable<Result<AnnounceResponse>> http_announce(std::string url,
                                                               TrackerConfig config);

// A plain GET with the same bounds (e.g. a .torrent given as a URL): the body of a 200 reply;
// any other final status is an error naming it.
boost::asio::awaitable<Result<std::string>> http_get(std::string url, TrackerConfig config);

// Where a redirect's Location (absolute or relative) points, resolved against the URL that
// answered `base`, without its fragment. Shared with web seeds (web_seed.cpp).
Result<std::string> http_redirect_target(const std::string& base, const std::string& location);

}  // namespace torfs
