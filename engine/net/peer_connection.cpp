#include "engine/net/peer_connection.hpp"

#include <algorithm>
#include <cstring>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "engine/net/mse_socket.hpp"
#include "engine/net/rate_limiter.hpp"
#include "engine/net/torrent_impl.hpp"

namespace torfs {
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {
constexpr std::size_t kReadBuffer = 128 * 1024;
constexpr auto kConnectTimeout = 10s;
constexpr auto kHandshakeTimeout = 10s;
constexpr auto kIdleTimeout = 120s;
constexpr auto kKeepAliveInterval = 60s;
constexpr auto kRequestTimeout = 30s;
constexpr auto token = asio::as_tuple(asio::use_awaitable);
}  // namespace

PeerConnection::PeerConnection(TorrentImpl& torrent, tcp::socket socket, PeerKey key,
                               tcp::endpoint remote, bool outgoing)
    : torrent_(&torrent),
      socket_(std::move(socket)),
      wake_(socket_.get_executor()),
      watchdog_timer_(socket_.get_executor()),
      key_(key),
      remote_(std::move(remote)),
      outgoing_(outgoing) {}

PeerConnection::~PeerConnection() = default;

std::string PeerConnection::name() const {
  return remote_.address().to_string() + ":" + std::to_string(remote_.port());
}

bool PeerConnection::count_unsolicited(std::uint32_t length) {
  if (late_block_credits_ > 0 && length <= PiecePicker::kBlockSize) {
    --late_block_credits_;  // a late answer to a request we abandoned: honest
    return false;
  }
  unsolicited_bytes_ += length;
  return unsolicited_bytes_ > kMaxUnsolicitedBytes;
}

void PeerConnection::start(std::optional<wire::Handshake> theirs, PeerCrypto crypto) {
  mse_plaintext_ = crypto.mse_plaintext;
  encrypt_ = std::move(crypto.encrypt);
  decrypt_ = std::move(crypto.decrypt);
  pending_ = std::move(crypto.received);
  upload_limit_ = torrent_->context().upload_limit;
  download_limit_ = torrent_->context().download_limit;
  connected_at = Clock::now();
  last_recv_ = last_send_ = last_block = connected_at;
  asio::co_spawn(socket_.get_executor(), run(std::move(theirs)), asio::detached);
}

void PeerConnection::close(std::string_view reason) {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  wake_.cancel();
  watchdog_timer_.cancel();
  TorrentImpl* t = torrent_;
  torrent_ = nullptr;
  t->on_peer_closed(*this, reason);
}

// Outgoing connections leave from the listen address when it is a specific one, so the remote
// sees the same address that trackers hand out for us (and that we accept connections on).
void PeerConnection::bind_to_listen_address() {
  const auto& bind = torrent_->context().bind_address;
  if (!bind) return;
  const tcp::endpoint local(to_asio(*bind).address(), 0);
  if (local.protocol() != remote_.protocol()) return;
  boost::system::error_code ec;
  socket_.open(local.protocol(), ec);
  if (!ec) socket_.set_option(tcp::socket::reuse_address(true), ec);
  if (!ec) socket_.bind(local, ec);
  // On failure the connect below opens an unbound socket: a worse source address, not an error.
  if (ec && socket_.is_open()) socket_.close(ec);
}

asio::awaitable<bool> PeerConnection::connect() {
  bind_to_listen_address();
  asio::steady_timer timer(socket_.get_executor());
  timer.expires_after(kConnectTimeout);
  auto r = co_await (socket_.async_connect(remote_, token) || timer.async_wait(token));
  if (closed_) co_return false;
  if (r.index() == 1) {
    close("connect timed out");
    co_return false;
  }
  if (auto [ec] = std::get<0>(r); ec) {
    close("connect: " + ec.message());
    co_return false;
  }
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  co_return true;
}

asio::awaitable<void> PeerConnection::run(std::optional<wire::Handshake> theirs) {
  auto self = shared_from_this();
  HandshakeOutcome hs;
  if (outgoing_) {
    const EncryptionPolicy policy = torrent_->context().encryption;
    const bool encrypt = policy != EncryptionPolicy::prefer_plaintext;
    if (!co_await connect()) co_return;
    hs = co_await outgoing_handshakes(encrypt);
    if (!hs.ok && hs.peer_closed && !closed_ && policy != EncryptionPolicy::require_rc4) {
      // Peers that insist on MSE, or do not speak it, hang up on the other kind: one retry.
      torrent_->context().log(LogLevel::debug, name(), ": hung up on a ", encrypt ? "MSE" : "plain",
                              " handshake; retrying ", encrypt ? "plain" : "with MSE");
      boost::system::error_code ignored;
      socket_.close(ignored);
      encrypt_.reset();
      decrypt_.reset();
      mse_plaintext_ = false;
      pending_.clear();
      if (!co_await connect()) co_return;
      hs = co_await outgoing_handshakes(!encrypt);
    }
  } else {
    hs = co_await exchange_handshakes(std::move(theirs));
  }
  if (closed_) co_return;
  if (!hs.ok) co_return close(hs.error);
  if (encrypt_ || mse_plaintext_)
    torrent_->context().log(LogLevel::debug, name(), ": protocol encryption (MSE/PE), ",
                            encrypt_ ? "RC4" : "plaintext selected");
  handshake_done = true;
  if (!torrent_->on_peer_handshake(*this)) co_return close("refused after handshake");
  asio::co_spawn(socket_.get_executor(), writer(), asio::detached);
  asio::co_spawn(socket_.get_executor(), watchdog(), asio::detached);
  co_await reader();
}

asio::awaitable<PeerConnection::HandshakeOutcome> PeerConnection::outgoing_handshakes(
    bool encrypt) {
  if (encrypt) {
    mse::Initiator initiator(torrent_->info_hash(), mse_methods(torrent_->context().encryption));
    asio::steady_timer timer(socket_.get_executor());
    timer.expires_after(kHandshakeTimeout);
    MseExchange x = co_await run_mse(socket_, initiator, {}, timer);
    if (closed_) co_return HandshakeOutcome{};
    if (!x.established) co_return HandshakeOutcome{false, x.peer_closed, std::move(x.error)};
    mse_plaintext_ = !x.established->encrypt;
    encrypt_ = std::move(x.established->encrypt);
    decrypt_ = std::move(x.established->decrypt);
    pending_ = std::move(x.established->payload);
  }
  co_return co_await exchange_handshakes(std::nullopt);
}

asio::awaitable<boost::system::error_code> PeerConnection::read_exact(char* dst, std::size_t n,
                                                                      asio::steady_timer& timer) {
  const std::size_t buffered = std::min(n, pending_.size());
  std::memcpy(dst, pending_.data(), buffered);
  pending_.erase(0, buffered);
  if (buffered == n) co_return boost::system::error_code();
  auto r = co_await (asio::async_read(socket_, asio::buffer(dst + buffered, n - buffered), token) ||
                     timer.async_wait(token));
  if (r.index() == 1) co_return asio::error::timed_out;
  if (auto [ec, got] = std::get<0>(r); ec) co_return ec;
  if (decrypt_) decrypt_->apply(dst + buffered, n - buffered);
  co_return boost::system::error_code();
}

asio::awaitable<PeerConnection::HandshakeOutcome> PeerConnection::exchange_handshakes(
    std::optional<wire::Handshake> theirs) {
  HandshakeOutcome outcome;
  wire::Handshake ours;
  ours.set_fast();
  ours.set_extensions();
  if (torrent_->context().dht) ours.set_dht();  // BEP 5
  ours.info_hash = torrent_->info_hash();
  ours.peer_id = torrent_->context().peer_id;
  char out[wire::kHandshakeSize];
  wire::write_handshake(ours, out);
  if (encrypt_) encrypt_->apply(out, sizeof out);
  asio::steady_timer timer(socket_.get_executor());
  timer.expires_after(kHandshakeTimeout);
  auto w =
      co_await (asio::async_write(socket_, asio::buffer(out), token) || timer.async_wait(token));
  if (closed_) co_return outcome;
  if (w.index() == 1 || std::get<0>(std::get<0>(w))) {
    outcome.error = "sending the handshake failed";
    co_return outcome;
  }
  if (theirs) {
    handshake = *theirs;
    outcome.ok = true;
    co_return outcome;
  }
  char in[wire::kHandshakeSize];
  // The first 20 bytes alone first: something that is not BitTorrent is refused early.
  auto ec = co_await read_exact(in, 20, timer);
  if (closed_) co_return outcome;
  if (ec || !wire::handshake_prefix_valid({in, 20})) {
    outcome.peer_closed = ec == asio::error::eof || ec == asio::error::connection_reset;
    outcome.error = ec == asio::error::timed_out ? std::string("handshake timed out")
                    : ec                         ? "handshake: " + ec.message()
                                                 : std::string("not a BitTorrent handshake");
    co_return outcome;
  }
  ec = co_await read_exact(in + 20, 48, timer);
  if (closed_) co_return outcome;
  if (ec) {
    outcome.error = ec == asio::error::timed_out ? std::string("handshake timed out")
                                                 : "handshake incomplete: " + ec.message();
    co_return outcome;
  }
  auto hs = wire::parse_handshake({in, sizeof in});
  if (!hs) {
    outcome.error = hs.error().message;
  } else if (hs->info_hash != torrent_->info_hash()) {
    outcome.error = "handshake for another torrent";
  } else {
    handshake = *hs;
    outcome.ok = true;
  }
  co_return outcome;
}

asio::awaitable<void> PeerConnection::reader() {
  auto self = shared_from_this();
  // Bytes that arrived with the handshakes (MSE payload) are parsed before the first read.
  rbuf_.resize(std::max(kReadBuffer, pending_.size()));
  std::memcpy(rbuf_.data(), pending_.data(), pending_.size());
  rbuf_end_ = pending_.size();
  pending_ = std::string();
  if (rbuf_end_ > 0) {
    if (!drain_messages() || closed_) co_return;
    torrent_->on_read_batch(*this);
    if (closed_) co_return;
  }
  for (;;) {
    auto [ec, n] = co_await socket_.async_read_some(
        asio::buffer(rbuf_.data() + rbuf_end_, rbuf_.size() - rbuf_end_), token);
    if (closed_) co_return;
    if (ec) co_return close(ec == asio::error::eof ? "closed by peer" : ec.message());
    if (decrypt_) decrypt_->apply(rbuf_.data() + rbuf_end_, n);
    rbuf_end_ += n;
    last_recv_ = Clock::now();
    if (download_limit_ && download_limit_->limited()) {
      co_await download_limit_->acquire(n);
      if (closed_) co_return;
    }
    if (!drain_messages() || closed_) co_return;
    torrent_->on_read_batch(*this);
    if (closed_) co_return;
  }
}

bool PeerConnection::drain_messages() {
  std::size_t pos = 0;
  wire::Message msg;
  for (;;) {
    const wire::ParseResult r =
        wire::parse_message(std::string_view(rbuf_.data() + pos, rbuf_end_ - pos), msg);
    if (r.status == wire::ParseStatus::error) {
      close(std::string("protocol violation: ") + r.error);
      return false;
    }
    if (r.status == wire::ParseStatus::need_more) {
      std::memmove(rbuf_.data(), rbuf_.data() + pos, rbuf_end_ - pos);
      rbuf_end_ -= pos;
      // A message larger than the buffer (big bitfield, extension message): grow for it,
      // shrink back once the buffer is drained of it.
      if (r.size > rbuf_.size())
        rbuf_.resize(r.size);
      else if (rbuf_.size() > kReadBuffer && rbuf_end_ <= kReadBuffer && r.size <= kReadBuffer)
        rbuf_.resize(kReadBuffer);
      return true;
    }
    if (const char* error = torrent_->on_message(*this, msg)) {
      close(std::string("protocol violation: ") + error);
      return false;
    }
    if (closed_) return false;
    pos += r.size;
  }
}

asio::awaitable<void> PeerConnection::writer() {
  auto self = shared_from_this();
  for (;;) {
    if (closed_) co_return;
    if (out_.empty()) {
      writer_waiting_ = true;
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(token);
      writer_waiting_ = false;
      continue;
    }
    std::swap(out_, sending_);
    if (encrypt_) encrypt_->apply(sending_.data(), sending_.size());  // in place, once
    // Under an upload limit, write in 64 KiB slices paid for one at a time, so the rate stays
    // smooth however much is queued.
    const bool limited = upload_limit_ && upload_limit_->limited();
    const std::size_t slice = limited ? std::size_t{64 * 1024} : sending_.size();
    for (std::size_t off = 0; off < sending_.size();) {
      const std::size_t n = std::min(slice, sending_.size() - off);
      if (limited) {
        co_await upload_limit_->acquire(n);
        if (closed_) co_return;
      }
      auto [ec, written] =
          co_await asio::async_write(socket_, asio::buffer(sending_.data() + off, n), token);
      if (closed_) co_return;
      if (ec) co_return close("write: " + ec.message());
      off += written;
    }
    sending_.clear();
    last_send_ = Clock::now();
    torrent_->on_write_done(*this);
  }
}

asio::awaitable<void> PeerConnection::watchdog() {
  auto self = shared_from_this();
  for (;;) {
    watchdog_timer_.expires_after(5s);
    co_await watchdog_timer_.async_wait(token);
    if (closed_) co_return;
    const auto now = Clock::now();
    if (now - last_recv_ > kIdleTimeout) co_return close("idle timeout");
    if (now - last_send_ > kKeepAliveInterval && send_buffer_size() == 0) {
      wire::write_keep_alive(reserve(wire::kKeepAliveSize));
      wake_writer();
    }
    if (!requests.empty() && now - std::max(last_block, requests.front().sent) > kRequestTimeout) {
      torrent_->on_request_timeout(*this);
      if (closed_) co_return;
    }
  }
}

void PeerConnection::wake_writer() {
  if (writer_waiting_) wake_.cancel();
}

char* PeerConnection::reserve(std::size_t n) {
  const std::size_t old = out_.size();
  out_.resize(old + n);
  return out_.data() + old;
}

void PeerConnection::send_simple(wire::MsgType type) {
  if (closed_) return;
  wire::write_simple(reserve(wire::kSimpleSize), type);
  wake_writer();
}

void PeerConnection::send_have(wire::MsgType type, std::uint32_t index) {
  if (closed_) return;
  wire::write_have(reserve(wire::kHaveSize), type, index);
  wake_writer();
}

void PeerConnection::send_request(wire::MsgType type, std::uint32_t index, std::uint32_t begin,
                                  std::uint32_t length) {
  if (closed_) return;
  wire::write_request(reserve(wire::kRequestSize), type, index, begin, length);
  wake_writer();
}

void PeerConnection::send_bitfield(const Bitfield& bits) {
  if (closed_) return;
  const auto bytes = bits.bytes();
  char* p = reserve(5 + bytes.size());
  wire::write_bitfield_header(p, static_cast<std::uint32_t>(bytes.size()));
  std::memcpy(p + 5, bytes.data(), bytes.size());
  wake_writer();
}

void PeerConnection::send_extended(std::uint8_t ext_id, std::string_view payload) {
  if (closed_) return;
  char* p = reserve(6 + payload.size());
  wire::write_extended_header(p, ext_id, static_cast<std::uint32_t>(payload.size()));
  std::memcpy(p + 6, payload.data(), payload.size());
  wake_writer();
}

void PeerConnection::send_port(std::uint16_t dht_port) {
  if (closed_) return;
  wire::write_port(reserve(wire::kPortSize), dht_port);
  wake_writer();
}

void PeerConnection::send_piece(std::uint32_t index, std::uint32_t begin,
                                std::span<const char> data) {
  if (closed_) return;
  char* p = reserve(wire::kPieceHeaderSize + data.size());
  wire::write_piece_header(p, index, begin, static_cast<std::uint32_t>(data.size()));
  std::memcpy(p + wire::kPieceHeaderSize, data.data(), data.size());
  wake_writer();
}

}  // namespace torfs
