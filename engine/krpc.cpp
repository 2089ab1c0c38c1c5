#include "engine/krpc.hpp"

#include <algorithm>
#include <cstring>

#include "engine/bencode.hpp"

namespace torfs::dht {
namespace {

using bencode::Node;
using bencode::Value;

// KRPC messages are shallow and small; anything deeper or bigger is not a DHT message.
const bencode::Limits kLimits{
    .max_depth = 8, .max_tokens = 4096, .max_size = kMaxMessageSize, .strict = false};
constexpr std::size_t kMaxMethodNameLength = 32;

Error protocol_error(std::string what) {
  return make_error(std::errc::protocol_error, "KRPC: " + std::move(what));
}

template <std::size_t N>
bool copy_fixed(std::optional<std::string_view> s, std::array<std::uint8_t, N>& out) {
  if (!s || s->size() != N) return false;
  std::memcpy(out.data(), s->data(), N);
  return true;
}

Method method_from_name(std::string_view name) {
  if (name == "ping") return Method::ping;
  if (name == "find_node") return Method::find_node;
  if (name == "get_peers") return Method::get_peers;
  if (name == "announce_peer") return Method::announce_peer;
  return Method::unknown;
}

std::string_view method_name(Method m) {
  switch (m) {
    case Method::ping:
      return "ping";
    case Method::find_node:
      return "find_node";
    case Method::get_peers:
      return "get_peers";
    case Method::announce_peer:
      return "announce_peer";
    case Method::unknown:
      break;
  }
  return "unknown";
}

// "want" is a list of strings; anything else in it (or a "want" that is not a list) is ignored.
// The walk is bounded by the decoder's token limit.
Want parse_want(const Node& args) {
  Want w;
  const auto list = args.find_list("want");
  if (!list) return w;
  for (const Node v : list->elements()) {
    if (!v.is_string()) continue;
    w.n4 = w.n4 || v.as_string() == "n4";
    w.n6 = w.n6 || v.as_string() == "n6";
  }
  return w;
}

void add_want(Value::Dict& args, Want want) {
  if (!want.any()) return;
  Value::List list;
  if (want.n4) list.emplace_back("n4");
  if (want.n6) list.emplace_back("n6");
  args["want"] = Value(std::move(list));
}

Result<void> parse_query(const Node& root, Query& q) {
  const auto name = root.find_string("q");
  if (!name) return protocol_error("query without a method name (\"q\")");
  q.method_name = std::string(name->substr(0, kMaxMethodNameLength));
  q.method = method_from_name(*name);
  const auto args = root.find_dict("a");
  if (!args) return protocol_error("query \"" + q.method_name + "\" without arguments (\"a\")");
  if (!copy_fixed(args->find_string("id"), q.id)) {
    return protocol_error("query \"" + q.method_name + "\" without a 20-byte \"id\"");
  }
  q.read_only = root.find_int("ro").value_or(0) == 1;  // BEP 43: top level
  if (q.method == Method::find_node || q.method == Method::get_peers) q.want = parse_want(*args);
  switch (q.method) {
    case Method::find_node:
      if (!copy_fixed(args->find_string("target"), q.target)) {
        return protocol_error("find_node without a 20-byte \"target\"");
      }
      break;
    case Method::get_peers:
    case Method::announce_peer:
      if (!copy_fixed(args->find_string("info_hash"), q.info_hash)) {
        return protocol_error(q.method_name + " without a 20-byte \"info_hash\"");
      }
      break;
    case Method::ping:
    case Method::unknown:
      break;
  }
  if (q.method != Method::announce_peer) return {};
  q.implied_port = args->find_int("implied_port").value_or(0) != 0;
  const auto port = args->find_int("port");
  if (port && (*port < 0 || *port > 65535)) {
    return protocol_error("announce_peer port " + std::to_string(*port) + " out of range");
  }
  if (!q.implied_port && (!port || *port == 0)) {
    return protocol_error("announce_peer without a port (and no implied_port)");
  }
  q.port = static_cast<std::uint16_t>(port.value_or(0));
  const auto token = args->find_string("token");
  if (!token || token->empty() || token->size() > kMaxTokenLength) {
    return protocol_error("announce_peer without a token of 1.." + std::to_string(kMaxTokenLength) +
                          " bytes");
  }
  q.token = std::string(*token);
  return {};
}

Result<void> parse_response(const Node& root, Response& r) {
  const auto body = root.find_dict("r");
  if (!body) return protocol_error("response without a body (\"r\")");
  if (!copy_fixed(body->find_string("id"), r.id)) {
    return protocol_error("response without a 20-byte \"id\"");
  }
  if (const auto nodes = body->find_string("nodes")) r.nodes = parse_compact_nodes(*nodes, false);
  if (const auto nodes6 = body->find_string("nodes6")) {
    auto more = parse_compact_nodes(*nodes6, true);
    r.nodes.insert(r.nodes.end(), more.begin(), more.end());
  }
  if (const auto values = body->find_list("values")) {
    for (const Node v : values->elements()) {
      if (r.values.size() >= kMaxValues) break;
      if (!v.is_string()) continue;
      const auto peer = parse_compact_endpoint(v.as_string());
      if (peer && peer->port != 0) r.values.push_back(*peer);
    }
  }
  if (const auto token = body->find_string("token")) {
    if (token->size() > kMaxTokenLength) {
      return protocol_error("token of " + std::to_string(token->size()) + " bytes (max " +
                            std::to_string(kMaxTokenLength) + ")");
    }
    r.token = std::string(*token);
  }
  return {};
}

Result<void> parse_error(const Node& root, ErrorReply& e) {
  const auto list = root.find_list("e");
  if (!list || list->size() < 2) return protocol_error("error without an [code, text] list");
  const Node code = list->at(0);
  const Node text = list->at(1);
  if (!code.is_int() || !text.is_string()) {
    return protocol_error("error list is not [integer, string]");
  }
  const std::int64_t c = std::clamp<std::int64_t>(code.as_int(), 0, 999);
  e.code = static_cast<ErrorCode>(c);
  e.text = std::string(text.as_string().substr(0, kMaxErrorTextLength));
  return {};
}

std::string build_query(std::string_view tid, Method method, Value::Dict args) {
  Value::Dict d;
  d["a"] = Value(std::move(args));
  d["q"] = Value(method_name(method));
  d["t"] = Value(tid);
  d["v"] = Value(kClientVersion);
  d["y"] = Value("q");
  return bencode::encode(Value(std::move(d)));
}

std::string id_string(const std::array<std::uint8_t, 20>& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), id.size());
}

}  // namespace

Result<Message> parse_message(std::string_view packet) {
  if (packet.size() > kMaxMessageSize) {
    return protocol_error("packet of " + std::to_string(packet.size()) + " bytes (max " +
                          std::to_string(kMaxMessageSize) + ")");
  }
  auto doc = bencode::decode(packet, kLimits);
  if (!doc) return protocol_error("invalid bencode: " + doc.error().message);
  const Node root = doc->root();
  if (!root.is_dict()) return protocol_error("message is not a dictionary");
  Message m;
  const auto tid = root.find_string("t");
  if (!tid || tid->empty() || tid->size() > kMaxTransactionIdLength) {
    return protocol_error("missing transaction id or longer than " +
                          std::to_string(kMaxTransactionIdLength) + " bytes");
  }
  m.transaction_id = std::string(*tid);
  if (const auto v = root.find_string("v"); v && v->size() <= kMaxVersionLength) {
    m.version = std::string(*v);
  }
  const auto y = root.find_string("y");
  if (!y || y->size() != 1) return protocol_error("missing message type (\"y\")");
  Result<void> body;
  switch ((*y)[0]) {
    case 'q':
      m.kind = MessageKind::query;
      body = parse_query(root, m.query);
      break;
    case 'r':
      m.kind = MessageKind::response;
      body = parse_response(root, m.response);
      break;
    case 'e':
      m.kind = MessageKind::error;
      body = parse_error(root, m.error);
      break;
    default:
      return protocol_error("unknown message type \"" + std::string(*y) + "\"");
  }
  if (!body) return std::move(body).take_error();
  return m;
}

std::optional<std::string> query_transaction_id(std::string_view packet) {
  if (packet.size() > kMaxMessageSize) return std::nullopt;
  auto doc = bencode::decode(packet, kLimits);
  if (!doc || !doc->root().is_dict()) return std::nullopt;
  const Node root = doc->root();
  const auto tid = root.find_string("t");
  if (root.find_string("y") != std::optional<std::string_view>("q") || !tid || tid->empty() ||
      tid->size() > kMaxTransactionIdLength) {
    return std::nullopt;
  }
  return std::string(*tid);
}

std::string build_ping(std::string_view tid, const NodeId& self) {
  return build_query(tid, Method::ping, {{"id", Value(id_string(self))}});
}

std::string build_find_node(std::string_view tid, const NodeId& self, const NodeId& target,
                            Want want) {
  Value::Dict a{{"id", Value(id_string(self))}, {"target", Value(id_string(target))}};
  add_want(a, want);
  return build_query(tid, Method::find_node, std::move(a));
}

std::string build_get_peers(std::string_view tid, const NodeId& self, const Sha1Hash& info_hash,
                            Want want) {
  Value::Dict a{{"id", Value(id_string(self))}, {"info_hash", Value(id_string(info_hash))}};
  add_want(a, want);
  return build_query(tid, Method::get_peers, std::move(a));
}

std::string build_announce_peer(std::string_view tid, const NodeId& self, const Sha1Hash& info_hash,
                                std::uint16_t port, std::string_view token, bool implied_port) {
  Value::Dict a{{"id", Value(id_string(self))},
                {"info_hash", Value(id_string(info_hash))},
                {"port", Value(std::int64_t{port})},
                {"token", Value(token)}};
  if (implied_port) a["implied_port"] = Value(1);
  return build_query(tid, Method::announce_peer, std::move(a));
}

std::string build_response(std::string_view tid, const Response& response) {
  Value::Dict r{{"id", Value(id_string(response.id))}};
  std::string nodes, nodes6;
  for (const NodeInfo& n : response.nodes)
    (n.endpoint.v6 ? nodes6 : nodes) += compact_node(n);
  if (!nodes.empty()) r["nodes"] = Value(std::move(nodes));
  if (!nodes6.empty()) r["nodes6"] = Value(std::move(nodes6));
  if (!response.values.empty()) {
    Value::List values;
    for (const Endpoint& e : response.values)
      values.emplace_back(compact_endpoint(e));
    r["values"] = Value(std::move(values));
  }
  if (response.token) r["token"] = Value(*response.token);
  Value::Dict d{{"r", Value(std::move(r))},
                {"t", Value(tid)},
                {"v", Value(kClientVersion)},
                {"y", Value("r")}};
  return bencode::encode(Value(std::move(d)));
}

std::string build_error(std::string_view tid, ErrorCode code, std::string_view text) {
  Value::List e{Value(static_cast<std::int64_t>(code)), Value(text.substr(0, kMaxErrorTextLength))};
  Value::Dict d{{"e", Value(std::move(e))},
                {"t", Value(tid)},
                {"v", Value(kClientVersion)},
                {"y", Value("e")}};
  return bencode::encode(Value(std::move(d)));
}

std::string compact_endpoint(const Endpoint& endpoint) {
  const std::size_t n = endpoint.v6 ? 16 : 4;
  std::string out(reinterpret_cast<const char*>(endpoint.address.data()), n);
  out.push_back(static_cast<char>(endpoint.port >> 8));
  out.push_back(static_cast<char>(endpoint.port & 0xff));
  return out;
}

std::optional<Endpoint> parse_compact_endpoint(std::string_view bytes) {
  if (bytes.size() != 6 && bytes.size() != 18) return std::nullopt;
  Endpoint e;
  e.v6 = bytes.size() == 18;
  const std::size_t n = bytes.size() - 2;
  std::memcpy(e.address.data(), bytes.data(), n);
  e.port = static_cast<std::uint16_t>((static_cast<std::uint8_t>(bytes[n]) << 8) |
                                      static_cast<std::uint8_t>(bytes[n + 1]));
  return e;
}

std::string compact_node(const NodeInfo& node) {
  return id_string(node.id) + compact_endpoint(node.endpoint);
}

std::vector<NodeInfo> parse_compact_nodes(std::string_view bytes, bool v6, std::size_t max) {
  const std::size_t entry = v6 ? kCompactNode6Size : kCompactNodeSize;
  std::vector<NodeInfo> out;
  out.reserve(std::min(max, bytes.size() / entry));
  for (std::size_t at = 0; at + entry <= bytes.size() && out.size() < max; at += entry) {
    NodeInfo n;
    std::memcpy(n.id.data(), bytes.data() + at, n.id.size());
    n.endpoint = *parse_compact_endpoint(bytes.substr(at + 20, entry - 20));
    if (n.endpoint.port != 0) out.push_back(n);
  }
  return out;
}

}  // namespace torfs::dht
