#include "engine/net/http_url.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/url/parse.hpp>

namespace torfs {

std::string shorten_url(std::string_view url, std::size_t max) {
  return url.size() <= max ? std::string(url) : std::string(url.substr(0, max)) + "...";
}

Result<HttpUrl> parse_http_url(std::string_view url, std::string_view what) {
  const auto u = boost::urls::parse_uri(url);
  if (!u) {
    return make_error(std::errc::invalid_argument,
                      "malformed " + std::string(what) + " URL " + shorten_url(url));
  }
  std::string scheme(u->scheme());
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
  HttpUrl t;
  if (scheme == "https") {
    t.tls = true;
  } else if (scheme != "http") {
    return make_error(std::errc::protocol_not_supported,
                      "unsupported scheme in " + std::string(what) + " URL " + shorten_url(url));
  }
  t.host = u->host_address();
  t.port = u->has_port() ? u->port_number() : (t.tls ? 443 : 80);
  if (t.host.empty() || t.port == 0) {
    return make_error(std::errc::invalid_argument, "no host or port in " + shorten_url(url));
  }
  t.host_header = std::string(u->encoded_host_and_port());
  t.target = u->encoded_path().empty() ? "/" : std::string(u->encoded_path());
  if (u->has_query()) {
    const auto query = u->encoded_query();
    t.target.push_back('?');
    t.target.append(query.data(), query.size());
  }
  return t;
}

Result<void> init_tls_client(std::optional<boost::asio::ssl::context>& ctx,
                             const std::string& ca_file) {
  if (ctx) return {};
  boost::system::error_code ec;
  try {
    ctx.emplace(boost::asio::ssl::context::tls_client);
  } catch (const boost::system::system_error& e) {
    return Error{static_cast<std::error_code>(e.code()),
                 "cannot create a TLS context: " + e.code().message()};
  }
  ctx->set_default_verify_paths(ec);
  if (!ec && !ca_file.empty()) ctx->load_verify_file(ca_file, ec);
  if (ec) {
    ctx.reset();
    return Error{static_cast<std::error_code>(ec),
                 "loading CA certificates failed: " + ec.message()};
  }
  return {};
}

Result<void> prepare_tls_stream(boost::beast::ssl_stream<boost::beast::tcp_stream>& stream,
                                const std::string& host) {
  stream.set_verify_mode(boost::asio::ssl::verify_peer);
  stream.set_verify_callback(boost::asio::ssl::host_name_verification(host));
  boost::system::error_code literal_ec;
  boost::asio::ip::make_address(host, literal_ec);
  if (literal_ec && !SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) {
    return make_error(std::errc::protocol_error, "cannot set the TLS server name");
  }
  return {};
}

}  // namespace torfs
