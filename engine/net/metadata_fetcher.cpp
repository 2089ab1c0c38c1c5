#include "engine/net/metadata_fetcher.hpp"

#include <algorithm>
#include <cstring>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "engine/net/mse_socket.hpp"
#include "engine/net/session_context.hpp"
#include "engine/net/torrent_impl.hpp"
#include "engine/net/tracker_manager.hpp"
#include "engine/ut_metadata.hpp"
#include "engine/wire.hpp"

namespace torfs {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {
constexpr auto token = asio::as_tuple(asio::use_awaitable);
constexpr auto kConnectTimeout = 10s;
constexpr auto kReadTimeout = 30s;
constexpr std::uint8_t kOurMetadataId = ut_metadata::kLocalId;
constexpr std::size_t kMaxQueuedAnswers = 1 << 20;  // bytes queued to a peer before we reject
constexpr std::uint32_t kRequestsPerPeer = 8;
constexpr int kMaxAttempts = 5;
constexpr auto kRetryStep = 3s;
constexpr const char* kOurselves = "ourselves";
constexpr const char* kNoMetadata = "no ut_metadata";
}  // namespace

struct MetadataFetcher::State {
  ut_metadata::Assembler assembler;
};

struct MetadataFetcher::Peer {
  explicit Peer(asio::io_context& io, Endpoint e) : socket(io), ep(e) {}
  tcp::socket socket;
  Endpoint ep;
  std::string out;
  std::uint8_t their_id = 0;
  std::uint32_t outstanding = 0;
  std::uint32_t cursor = 0;
  bool closed = false;
  bool connected = false;
  void close() {
    closed = true;
    boost::system::error_code ignored;
    socket.close(ignored);
  }
};

MetadataFetcher::MetadataFetcher(SessionContext& ctx, Sha1Hash info_hash,
                                 MetadataFetchOptions options,
                                 std::function<void(Result<std::string>)> done)
    : ctx_(ctx),
      info_hash_(info_hash),
      options_(std::move(options)),
      done_(std::move(done)),
      state_(std::make_unique<State>()) {}

MetadataFetcher::~MetadataFetcher() {
  for (auto& p : peers_)
    p->close();
}

void MetadataFetcher::start() {
  if (options_.tracker_tiers.empty()) return;
  TrackerConfig config;
  if (ctx_.bind_address) config.bind_address = to_asio(*ctx_.bind_address).address().to_string();
  std::weak_ptr<MetadataFetcher> weak = shared_from_this();
  trackers_ = std::make_unique<TrackerManager>(
      ctx_.io, options_.tracker_tiers,
      [this] {
        AnnounceParams p;
        p.info_hash = info_hash_;
        p.peer_id = ctx_.peer_id;
        p.listen_port = ctx_.listen_port;
        p.left = ut_metadata::kPieceSize;  // unknown until the metadata is here
        p.key = ctx_.announce_key;
        return p;
      },
      [weak](std::vector<Endpoint> peers) {
        if (auto self = weak.lock()) self->add_peers(peers);
      },
      config);
  trackers_->start();
}

void MetadataFetcher::add_peers(const std::vector<Endpoint>& peers) {
  if (finished_) return;
  for (const Endpoint& ep : peers) {
    if (ep.port == 0 || ctx_.banned.count(ep.address) || !tried_.insert(ep).second) continue;
    queue_.push_back(ep);
  }
  connect_more();
}

void MetadataFetcher::cancel(Error error) {
  finish(std::move(error));
}

void MetadataFetcher::finish(Result<std::string> result) {
  if (finished_) return;
  finished_ = true;
  trackers_.reset();
  for (auto& p : peers_)
    p->close();
  queue_.clear();
  auto done = std::move(done_);
  done(std::move(result));
}

void MetadataFetcher::on_peer_done(Peer& peer) {
  if (peer.connected && connected_ > 0) --connected_;
  peer.connected = false;
  std::erase_if(peers_, [&](const auto& p) { return p.get() == &peer; });
  connect_more();
}

void MetadataFetcher::fill_requests(Peer& peer) {
  auto& a = state_->assembler;
  while (peer.their_id != 0 && a.started() && !a.complete() &&
         peer.outstanding < kRequestsPerPeer) {
    auto next = a.next_missing(peer.cursor);
    if (!next) break;
    peer.cursor = *next + 1;
    const std::string msg = ut_metadata::encode_request(*next);
    char header[6];
    wire::write_extended_header(header, peer.their_id, static_cast<std::uint32_t>(msg.size()));
    peer.out.append(header, sizeof header).append(msg);
    ++peer.outstanding;
  }
}

bool MetadataFetcher::on_metadata(Peer& peer, std::string_view payload) {
  auto msg = ut_metadata::parse(payload);
  if (!msg) {
    ctx_.log(LogLevel::debug, "metadata: ", peer.ep.to_string(), ": ", msg.error().message);
    return false;
  }
  if (msg->type == ut_metadata::MsgType::request) {
    // We have nothing to serve yet.
    const std::string reject = ut_metadata::encode_reject(msg->piece);
    char header[6];
    wire::write_extended_header(header, peer.their_id, static_cast<std::uint32_t>(reject.size()));
    peer.out.append(header, sizeof header).append(reject);
    return true;
  }
  if (peer.outstanding > 0) --peer.outstanding;
  if (msg->type == ut_metadata::MsgType::reject) return false;  // it has no metadata for us
  auto& a = state_->assembler;
  if (const char* e = a.add(msg->piece, msg->total_size, msg->data)) {
    ctx_.log(LogLevel::debug, "metadata: ", peer.ep.to_string(), ": ", e);
    return false;
  }
  if (a.complete()) {
    if (a.verify(info_hash_)) {
      finish(std::string(a.bytes()));
      return false;
    }
    ctx_.log(LogLevel::warning, "metadata from peers does not match the info-hash ",
             to_hex(info_hash_), "; fetching it again");
  }
  fill_requests(peer);
  return true;
}

void MetadataFetcher::connect_more() {
  while (!finished_ && !queue_.empty() && peers_.size() < options_.max_connections) {
    auto peer = std::make_shared<Peer>(ctx_.io, queue_.back());
    queue_.pop_back();
    peers_.push_back(peer);
    asio::co_spawn(ctx_.io, run_peer(shared_from_this(), peer), asio::detached);
  }
}

asio::awaitable<void> MetadataFetcher::run_peer(std::shared_ptr<MetadataFetcher> self,
                                                std::shared_ptr<Peer> peer) {
  const char* why = co_await self->talk(*peer);
  peer->close();
  if (self->finished_) co_return;
  ctx_.log(LogLevel::debug, "metadata: ", peer->ep.to_string(), ": ", why);
  // A peer that may just not have been ready (not listening yet, busy, still checking its
  // files) is asked again a few times, later each time.
  const bool hopeless = std::strcmp(why, kOurselves) == 0 || std::strcmp(why, kNoMetadata) == 0;
  const int attempt = ++self->attempts_[peer->ep];
  if (!hopeless && attempt < kMaxAttempts) {
    auto timer = std::make_shared<asio::steady_timer>(ctx_.io, attempt * kRetryStep);
    std::weak_ptr<MetadataFetcher> weak = self;
    timer->async_wait([weak, timer, ep = peer->ep](boost::system::error_code ec) {
      auto s = weak.lock();
      if (ec || !s || s->finished_) return;
      s->queue_.push_back(ep);
      s->connect_more();
    });
  }
  self->on_peer_done(*peer);
}

// The same encryption policy as peer connections (PeerConnection::run): plain first unless
// the session prefers or requires RC4, and one retry the other way when the peer hangs up on
// the first kind (unless RC4 is required).
asio::awaitable<const char*> MetadataFetcher::talk(Peer& p) {
  const EncryptionPolicy policy = ctx_.encryption;
  bool encrypt = policy != EncryptionPolicy::prefer_plaintext;
  for (int attempt = 0;; ++attempt) {
    bool hung_up = false;
    const char* why = co_await talk_once(p, encrypt, hung_up);
    if (!hung_up || attempt > 0 || p.closed || policy == EncryptionPolicy::require_rc4)
      co_return why;
    boost::system::error_code ignored;
    p.socket.close(ignored);
    encrypt = !encrypt;
  }
}

asio::awaitable<const char*> MetadataFetcher::talk_once(Peer& p, bool encrypt, bool& hung_up) {
  asio::steady_timer timer(p.socket.get_executor());
  boost::system::error_code ec;
  const tcp::endpoint remote = to_asio(p.ep);
  p.socket.open(remote.protocol(), ec);
  if (!ec && ctx_.bind_address) p.socket.bind({to_asio(*ctx_.bind_address).address(), 0}, ec);
  if (ec) co_return "cannot open a socket";
  timer.expires_after(kConnectTimeout);
  auto c = co_await (p.socket.async_connect(remote, token) || timer.async_wait(token));
  if (p.closed) co_return "closed";
  if (c.index() == 1) co_return "connect timed out";
  if (std::get<0>(std::get<0>(c))) co_return "connect failed";
  if (!p.connected) ++connected_;
  p.connected = true;
  std::vector<char> buf(64 * 1024);
  std::size_t end = 0;
  std::optional<mse::Rc4> encrypt_out, decrypt_in;
  if (encrypt) {
    mse::Initiator initiator(info_hash_, mse_methods(ctx_.encryption));
    timer.expires_after(kReadTimeout);
    MseExchange x = co_await run_mse(p.socket, initiator, {}, timer);
    if (p.closed) co_return "closed";
    if (!x.established) {
      hung_up = x.peer_closed;
      co_return "encrypted handshake (MSE) failed";
    }
    encrypt_out = std::move(x.established->encrypt);
    decrypt_in = std::move(x.established->decrypt);
    // Bytes that came with the end of the MSE handshake, already decrypted.
    const std::string& early = x.established->payload;
    if (early.size() > buf.size()) buf.resize(early.size());
    std::memcpy(buf.data(), early.data(), early.size());
    end = early.size();
  }
  wire::Handshake ours;
  ours.set_extensions();
  ours.info_hash = info_hash_;
  ours.peer_id = ctx_.peer_id;
  char hs[wire::kHandshakeSize];
  wire::write_handshake(ours, hs);
  p.out.assign(hs, sizeof hs);
  bool handshaken = false;
  bool unparsed = end > 0;  // early bytes are parsed before anything is read
  for (;;) {
    if (!p.out.empty()) {
      std::string sending;
      std::swap(sending, p.out);
      if (encrypt_out) encrypt_out->apply(sending.data(), sending.size());
      timer.expires_after(kReadTimeout);
      auto w = co_await (asio::async_write(p.socket, asio::buffer(sending), token) ||
                         timer.async_wait(token));
      if (p.closed) co_return "closed";
      if (w.index() == 1 || std::get<0>(std::get<0>(w))) co_return "write failed";
    }
    if (!unparsed) {
      timer.expires_after(kReadTimeout);
      auto r = co_await (
          p.socket.async_read_some(asio::buffer(buf.data() + end, buf.size() - end), token) ||
          timer.async_wait(token));
      if (p.closed) co_return "closed";
      if (r.index() == 1) co_return "timed out";
      if (const auto read_ec = std::get<0>(std::get<0>(r)); read_ec) {
        hung_up = !handshaken && end == 0 &&
                  (read_ec == asio::error::eof || read_ec == asio::error::connection_reset);
        co_return "closed by peer";
      }
      const std::size_t n = std::get<1>(std::get<0>(r));
      if (decrypt_in) decrypt_in->apply(buf.data() + end, n);
      end += n;
    }
    unparsed = false;
    std::size_t pos = 0;
    if (!handshaken) {
      if (!wire::handshake_prefix_valid({buf.data(), std::min<std::size_t>(end, 20)})) {
        co_return "not a BitTorrent handshake";
      }
      if (end < wire::kHandshakeSize) continue;
      if (const char* e = on_handshake({buf.data(), wire::kHandshakeSize}, p)) co_return e;
      handshaken = true;
      pos = wire::kHandshakeSize;
    }
    if (const char* e = on_messages(p, buf, pos, end)) co_return e;
  }
}

const char* MetadataFetcher::on_handshake(std::string_view bytes, Peer& p) {
  auto theirs = wire::parse_handshake(bytes);
  if (!theirs || theirs->info_hash != info_hash_) return "bad handshake";
  if (!theirs->supports_extensions()) return "no extension protocol (BEP 10)";
  if (theirs->peer_id == ctx_.peer_id) return kOurselves;
  wire::ExtensionHandshake ext;
  ext.m.emplace_back(std::string(ut_metadata::kExtensionName), kOurMetadataId);
  ext.client = "torfs";
  ext.listen_port = ctx_.listen_port;
  const std::string bytes_out = wire::encode_extension_handshake(ext);
  char header[6];
  wire::write_extended_header(header, 0, static_cast<std::uint32_t>(bytes_out.size()));
  p.out.append(header, sizeof header).append(bytes_out);
  return nullptr;
}

// Parses and handles every complete message in buf[pos, end); keeps the partial rest at the
// front of buf (growing it for a large message).
const char* MetadataFetcher::on_messages(Peer& p, std::vector<char>& buf, std::size_t pos,
                                         std::size_t& end) {
  for (;;) {
    wire::Message msg;
    const auto pr = wire::parse_message({buf.data() + pos, end - pos}, msg);
    if (pr.status == wire::ParseStatus::error) return pr.error;
    if (pr.status == wire::ParseStatus::need_more) {
      std::memmove(buf.data(), buf.data() + pos, end - pos);
      end -= pos;
      if (pr.size > buf.size()) buf.resize(pr.size);
      return nullptr;
    }
    pos += pr.size;
    if (msg.type != wire::MsgType::extended) continue;
    if (msg.ext_id == 0) {
      auto theirs = wire::decode_extension_handshake(msg.payload);
      if (!theirs) return "bad extension handshake";
      p.their_id = theirs->id_of(ut_metadata::kExtensionName).value_or(0);
      auto& a = state_->assembler;
      if (p.their_id == 0 || !theirs->metadata_size) return kNoMetadata;
      if (!a.started() && !a.reset(*theirs->metadata_size)) return "unusable metadata_size";
      if (a.size() != *theirs->metadata_size) return "metadata_size differs from other peers'";
      fill_requests(p);
    } else if (msg.ext_id == kOurMetadataId) {
      if (!on_metadata(p, msg.payload)) return finished_ ? "done" : "ut_metadata refused";
    }
  }
}

const char* serve_metadata(PeerConnection& peer, std::string_view info_bytes,
                           std::string_view payload) {
  auto msg = ut_metadata::parse(payload);
  if (!msg || msg->type != ut_metadata::MsgType::request || peer.ext_metadata_id == 0) {
    return nullptr;  // we never ask a torrent's peers for metadata: anything else is ignored
  }
  const bool busy = peer.send_buffer_size() > kMaxQueuedAnswers;
  peer.send_extended(peer.ext_metadata_id,
                     busy ? ut_metadata::encode_reject(msg->piece)
                          : ut_metadata::answer_request(info_bytes, msg->piece));
  return nullptr;
}

}  // namespace torfs
