// PeerConnection: one BitTorrent peer over TCP, as C++20 coroutines on the engine thread: a
// reader (large reads, messages parsed in place, dispatched to the torrent) and a writer
// (drains an output buffer that the engine appends to, so many small messages leave in one
// write), plus a watchdog for idle / keep-alive / request timeouts.
//
// Ownership: the torrent keeps a shared_ptr in its peer table; every coroutine holds one too
// (shared_from_this). After close() the connection never calls the torrent again, so a torrent
// may drop its pointer right after on_peer_closed(). Engine thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "engine/bitfield.hpp"
#include "engine/mse.hpp"
#include "engine/piece_picker.hpp"
#include "engine/wire.hpp"

namespace torfs {

class TorrentImpl;
class RateLimiter;

// An incoming connection's encryption, negotiated by the listener (MSE/PE): RC4 ciphers for
// the rest of the stream (both set, or neither for plaintext), and bytes the listener already
// read and decrypted beyond the BitTorrent handshake.
struct PeerCrypto {
  std::optional<mse::Rc4> encrypt;
  std::optional<mse::Rc4> decrypt;
  std::string received;
  bool mse_plaintext = false;  // MSE negotiated, plaintext selected (for logs)
};

class PeerConnection : public std::enable_shared_from_this<PeerConnection> {
 public:
  using tcp = boost::asio::ip::tcp;
  using Clock = std::chrono::steady_clock;

  struct Request {  // a block we asked this peer for
    BlockRef block;
    Clock::time_point sent;
  };
  struct Upload {  // a block this peer asked us for
    std::uint32_t index, begin, length;
  };

  PeerConnection(TorrentImpl& torrent, tcp::socket socket, PeerKey key, tcp::endpoint remote,
                 bool outgoing);
  ~PeerConnection();

  // Outgoing: connects (10 s), negotiates encryption as SessionContext::encryption says
  // (MSE, 10 s), sends our handshake and reads theirs (10 s); a peer that hangs up on the first
  // try gets one more with or without MSE (not under require_rc4). Incoming: `theirs` (and
  // `crypto`) come from the listener; we answer with our handshake. Then runs until closed.
  void start(std::optional<wire::Handshake> theirs, PeerCrypto crypto = {});
  // Idempotent. The torrent's on_peer_closed() runs once, synchronously, on the first call.
  void close(std::string_view reason);
  bool closed() const { return closed_; }

  // --- output (appends to the buffer, wakes the writer)
  void send_simple(wire::MsgType type);
  void send_have(wire::MsgType type, std::uint32_t index);
  void send_request(wire::MsgType type, std::uint32_t index, std::uint32_t begin,
                    std::uint32_t length);
  void send_bitfield(const Bitfield& bits);
  void send_extended(std::uint8_t ext_id, std::string_view payload);
  void send_port(std::uint16_t dht_port);  // BEP 5 PORT message
  void send_piece(std::uint32_t index, std::uint32_t begin, std::span<const char> data);
  std::size_t send_buffer_size() const { return out_.size() + sending_.size(); }

  // --- identity
  PeerKey key() const { return key_; }
  const tcp::endpoint& remote() const { return remote_; }
  bool outgoing() const { return outgoing_; }
  std::string name() const;                                // "1.2.3.4:5" for logs
  bool encrypted() const { return encrypt_.has_value(); }  // RC4 (MSE/PE) stream

  // --- protocol state, read and written by the torrent
  wire::Handshake handshake;  // theirs, once connected
  bool handshake_done = false;
  Bitfield has;                  // pieces the peer has (sized once the torrent knows)
  bool seed = false;             // has every piece (have all / full bitfield)
  bool peer_choking = true;      // they choke us
  bool peer_interested = false;  // they want our data
  bool am_choking = true;
  bool am_interested = false;
  bool snubbed = false;
  bool optimistic = false;
  std::uint32_t reqq = 250;            // their max outstanding requests (BEP 10 reqq)
  std::uint32_t target_queue = 64;     // our pipeline depth for this peer
  std::deque<Request> requests;        // outstanding, in send order
  std::deque<Upload> uploads;          // their requests, not yet read from disk
  std::uint32_t disk_reads = 0;        // uploads being read now
  std::uint32_t refused_requests = 0;  // refused since we last unchoked them (abuse check)
  std::uint64_t received_bytes = 0;    // payload from them, this second (for rates)
  std::uint64_t sent_bytes = 0;        // payload to them, this second
  double download_rate = 0;            // bytes/s, smoothed
  double upload_rate = 0;
  std::uint64_t total_downloaded = 0;
  std::uint64_t total_uploaded = 0;
  Clock::time_point last_block{};     // last block received (snub detection)
  Clock::time_point last_unchoked{};  // when we last unchoked them (round robin)
  Clock::time_point connected_at{};
  std::uint8_t ext_metadata_id = 0;  // theirs, from the extension handshake
  std::string client;

  // --- piece messages we did not ask for (flood check; see TorrentImpl::on_unsolicited)
  // A request we give up on without the peer refusing it (their choke, our snub timeout, an
  // endgame cancel, a paused download) may still be answered once, honestly: each one earns
  // a credit for one late block. Unrequested data beyond the credits is counted, and more than
  // kMaxUnsolicitedBytes of it is a flood.
  static constexpr std::uint64_t kMaxUnsolicitedBytes = 256 * 1024;
  void forgive_late_blocks(std::size_t requests) { late_block_credits_ += requests; }
  // Accounts one unrequested piece message of `length` bytes; true once over the limit.
  bool count_unsolicited(std::uint32_t length);
  std::uint64_t unsolicited_bytes() const { return unsolicited_bytes_; }

 private:
  struct HandshakeOutcome {
    bool ok = false;
    bool peer_closed = false;  // hung up before answering: worth a retry the other way
    std::string error;
  };
  boost::asio::awaitable<void> run(std::optional<wire::Handshake> theirs);
  void bind_to_listen_address();
  boost::asio::awaitable<bool> connect();  // false: closed
  // Outgoing: MSE (when `encrypt`) and then the BitTorrent handshakes.
  boost::asio::awaitable<HandshakeOutcome> outgoing_handshakes(bool encrypt);
  boost::asio::awaitable<HandshakeOutcome> exchange_handshakes(
      std::optional<wire::Handshake> theirs);
  // Exactly n bytes of the (decrypted) stream, pending_ first; timed_out when `timer` fires.
  boost::asio::awaitable<boost::system::error_code> read_exact(char* dst, std::size_t n,
                                                               boost::asio::steady_timer& timer);
  boost::asio::awaitable<void> reader();
  boost::asio::awaitable<void> writer();
  boost::asio::awaitable<void> watchdog();
  // Parses and dispatches every complete message in the read buffer; false on violation.
  bool drain_messages();
  void wake_writer();
  char* reserve(std::size_t n);  // room for n more bytes at the end of out_

  TorrentImpl* torrent_;
  RateLimiter* upload_limit_ = nullptr;  // session-owned; outlives every running coroutine
  RateLimiter* download_limit_ = nullptr;
  tcp::socket socket_;
  boost::asio::steady_timer wake_;
  boost::asio::steady_timer watchdog_timer_;
  PeerKey key_;
  tcp::endpoint remote_;
  bool outgoing_;
  bool closed_ = false;
  bool writer_waiting_ = false;
  std::vector<char> rbuf_;
  std::size_t rbuf_end_ = 0;
  // MSE/PE under RC4: every byte read is decrypted in place, every byte written encrypted in
  // place just before it goes out. Plaintext: both empty.
  std::optional<mse::Rc4> encrypt_;
  std::optional<mse::Rc4> decrypt_;
  std::string pending_;         // decrypted bytes read during the handshakes, not yet parsed
  bool mse_plaintext_ = false;  // MSE negotiated, plaintext selected
  std::vector<char> out_;
  std::vector<char> sending_;
  Clock::time_point last_recv_{};
  Clock::time_point last_send_{};
  std::uint64_t late_block_credits_ = 0;
  std::uint64_t unsolicited_bytes_ = 0;
};

}  // namespace torfs
