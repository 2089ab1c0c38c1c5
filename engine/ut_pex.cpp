#include "engine/ut_pex.hpp"

#include <tuple>

#include "engine/bencode.hpp"
#include "engine/krpc.hpp"

namespace torfs::ut_pex {
namespace {

Error bad(const std::string& what) {
  return make_error(std::errc::invalid_argument, "ut_pex: " + what);
}

// Appends the compact entries of `key` (6 or 18 bytes each) to `out`, with flags from
// `flags_key` when given.
Result<void> read_list(const bencode::Node& root, std::string_view key, std::size_t entry,
                       std::string_view flags_key, std::vector<Peer>& out) {
  const auto value = root.find(key);
  if (!value) return {};
  if (!value->is_string()) return bad(std::string(key) + " is not a string");
  const std::string_view bytes = value->as_string();
  if (bytes.size() % entry != 0) {
    return bad(std::string(key) + " has " + std::to_string(bytes.size()) +
               " bytes, not a multiple of " + std::to_string(entry));
  }
  std::string_view flags;
  if (!flags_key.empty()) flags = root.find_string(flags_key).value_or("");
  std::size_t taken = 0;
  for (std::size_t i = 0; i * entry < bytes.size() && taken < kMaxParsed; ++i) {
    auto ep = dht::parse_compact_endpoint(bytes.substr(i * entry, entry));
    if (!ep || ep->port == 0) continue;
    out.push_back({*ep, i < flags.size() ? static_cast<std::uint8_t>(flags[i]) : std::uint8_t{0}});
    ++taken;
  }
  return {};
}

}  // namespace

Result<Message> parse(std::string_view payload) {
  if (payload.size() > kMaxMessageSize) {
    return make_error(std::errc::value_too_large,
                      "ut_pex: message of " + std::to_string(payload.size()) + " bytes");
  }
  bencode::Limits limits;
  limits.max_depth = 4;
  limits.max_tokens = 64;
  limits.max_size = kMaxMessageSize;
  limits.strict = false;
  auto doc = bencode::decode(payload, limits);
  if (!doc) return bad(doc.error().message);
  const bencode::Node root = doc->root();
  if (!root.is_dict()) return bad("message is not a dictionary");
  Message m;
  std::vector<Peer> dropped;
  // One key after the other, stopping at the first malformed one.
  for (const auto& [key, entry, flags, out] :
       {std::tuple{"added", 6, "added.f", &m.added}, std::tuple{"added6", 18, "added6.f", &m.added},
        std::tuple{"dropped", 6, "", &dropped}, std::tuple{"dropped6", 18, "", &dropped}}) {
    if (auto r = read_list(root, key, entry, flags, *out); !r) return std::move(r).take_error();
  }
  for (const Peer& p : dropped)
    m.dropped.push_back(p.endpoint);
  return m;
}

std::string encode(const Message& message) {
  std::string added, added_f, added6, added6_f, dropped, dropped6;
  for (std::size_t i = 0; i < message.added.size() && i < kMaxAdded; ++i) {
    const Peer& p = message.added[i];
    (p.endpoint.v6 ? added6 : added) += dht::compact_endpoint(p.endpoint);
    (p.endpoint.v6 ? added6_f : added_f) += static_cast<char>(p.flags);
  }
  for (std::size_t i = 0; i < message.dropped.size() && i < kMaxDropped; ++i) {
    const Endpoint& e = message.dropped[i];
    (e.v6 ? dropped6 : dropped) += dht::compact_endpoint(e);
  }
  bencode::Value::Dict d;
  d.emplace("added", added);
  d.emplace("added.f", added_f);
  d.emplace("dropped", dropped);
  if (!added6.empty()) {
    d.emplace("added6", added6);
    d.emplace("added6.f", added6_f);
  }
  if (!dropped6.empty()) d.emplace("dropped6", dropped6);
  return bencode::encode(bencode::Value(std::move(d)));
}

std::optional<Message> Diff::next(const std::set<Endpoint>& current,
                                  const std::set<Endpoint>& seeds) {
  Message m;
  for (const Endpoint& ep : current) {
    if (m.added.size() >= kMaxAdded) break;
    if (!sent_.count(ep)) {
      m.added.push_back(
          {ep, static_cast<std::uint8_t>(kFlagReachable | (seeds.count(ep) ? kFlagSeed : 0))});
    }
  }
  for (const Endpoint& ep : sent_) {
    if (m.dropped.size() >= kMaxDropped) break;
    if (!current.count(ep)) m.dropped.push_back(ep);
  }
  if (m.added.empty() && m.dropped.empty()) return std::nullopt;
  for (const Peer& p : m.added)
    sent_.insert(p.endpoint);
  for (const Endpoint& ep : m.dropped)
    sent_.erase(ep);
  return m;
}

}  // namespace torfs::ut_pex
