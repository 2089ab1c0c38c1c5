#include "engine/net/mse_socket.hpp"

#include <array>

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace torfs {
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto token = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kChunk = 4096;

bool hung_up(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::connection_aborted || ec == asio::error::broken_pipe;
}

// One read_some against the deadline: the bytes, or an error (peer_closed for a hang-up).
asio::awaitable<std::size_t> read_chunk(asio::ip::tcp::socket& socket, char* buf,
                                        asio::steady_timer& deadline, MseExchange& failure) {
  auto r = co_await (socket.async_read_some(asio::buffer(buf, kChunk), token) ||
                     deadline.async_wait(token));
  if (r.index() == 1) {
    failure.error = "encrypted handshake timed out";
    co_return 0;
  }
  auto [ec, n] = std::get<0>(r);
  if (ec) {
    failure.peer_closed = hung_up(ec);
    failure.error = "encrypted handshake: " + ec.message();
    co_return 0;
  }
  co_return n;
}

}  // namespace

std::uint32_t mse_methods(EncryptionPolicy policy) {
  return policy == EncryptionPolicy::require_rc4 ? mse::kRc4 : mse::kRc4 | mse::kPlaintext;
}

asio::awaitable<MseExchange> run_mse(asio::ip::tcp::socket& socket, mse::HandshakeBase& handshake,
                                     std::string_view received, asio::steady_timer& deadline) {
  MseExchange result;
  std::array<char, kChunk> buf;
  std::string_view input = received;
  for (;;) {
    if (auto r = handshake.feed(input); !r) {
      result.error = r.error().message;
      co_return result;
    }
    if (const std::string out = handshake.take_output(); !out.empty()) {
      auto w = co_await (asio::async_write(socket, asio::buffer(out), token) ||
                         deadline.async_wait(token));
      if (w.index() == 1) {
        result.error = "encrypted handshake timed out";
        co_return result;
      }
      if (const auto [ec, n] = std::get<0>(w); ec) {
        result.peer_closed = hung_up(ec);
        result.error = "encrypted handshake: " + ec.message();
        co_return result;
      }
    }
    if (handshake.done()) {
      result.established = handshake.take_result();
      co_return result;
    }
    const std::size_t n = co_await read_chunk(socket, buf.data(), deadline, result);
    if (n == 0) co_return result;
    input = std::string_view(buf.data(), n);
  }
}

asio::awaitable<std::string> read_payload(asio::ip::tcp::socket& socket, mse::Established& e,
                                          std::size_t n, asio::steady_timer& deadline) {
  std::array<char, kChunk> buf;
  while (e.payload.size() < n) {
    MseExchange failure;
    const std::size_t got = co_await read_chunk(socket, buf.data(), deadline, failure);
    if (got == 0) co_return failure.error;
    if (e.decrypt) e.decrypt->apply(buf.data(), got);
    e.payload.append(buf.data(), got);
  }
  co_return std::string();
}

}  // namespace torfs
