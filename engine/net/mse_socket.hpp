// Runs an MSE/PE handshake state machine (engine/mse.hpp) over a TCP socket: the glue between
// the pure protocol and Asio, shared by outgoing peer connections (PeerConnection) and the
// session's listener. Engine thread; the socket and the deadline timer outlive the call.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "engine/mse.hpp"
#include "engine/session.hpp"

namespace torfs {

struct MseExchange {
  std::optional<mse::Established> established;  // set on success
  std::string error;                            // otherwise: what went wrong
  bool peer_closed = false;                     // the peer hung up (EOF / reset)
};

// Feeds `received` (bytes already read from the socket) to `handshake`, then alternates
// writing its output and reading until it finishes, fails, or `deadline` (already armed)
// fires. Reads at most 4 KiB at a time; bytes beyond the handshake end up in the payload.
boost::asio::awaitable<MseExchange> run_mse(boost::asio::ip::tcp::socket& socket,
                                            mse::HandshakeBase& handshake,
                                            std::string_view received,
                                            boost::asio::steady_timer& deadline);

// Reads (and decrypts, under RC4) until `e.payload` holds at least `n` bytes. An empty string
// on success, else the error.
boost::asio::awaitable<std::string> read_payload(boost::asio::ip::tcp::socket& socket,
                                                 mse::Established& e, std::size_t n,
                                                 boost::asio::steady_timer& deadline);

// The crypto_provide / allowed bits of a policy.
std::uint32_t mse_methods(EncryptionPolicy policy);

}  // namespace torfs
