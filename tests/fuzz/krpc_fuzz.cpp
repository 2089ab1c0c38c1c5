// Fuzzes the DHT's foreign-byte parsers: KRPC messages (BEP 5), compact node lists and the
// persisted routing-table state. Accepted messages obey the documented bounds and survive a
// build/parse round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/dht_routing_table.hpp"
#include "engine/krpc.hpp"

using namespace torfs;
using namespace torfs::dht;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_bounds(const Message& m) {
  check(!m.transaction_id.empty() && m.transaction_id.size() <= kMaxTransactionIdLength);
  check(m.version.size() <= kMaxVersionLength);
  check(m.response.nodes.size() <= 2 * kMaxNodes);
  check(m.response.values.size() <= kMaxValues);
  for (const auto& n : m.response.nodes)
    check(n.endpoint.port != 0);
  for (const auto& e : m.response.values)
    check(e.port != 0);
  if (m.response.token) check(m.response.token->size() <= kMaxTokenLength);
  check(m.query.token.size() <= kMaxTokenLength);
  check(m.error.text.size() <= kMaxErrorTextLength);
}

std::string rebuild_query(const Message& m) {
  const Query& q = m.query;
  switch (q.method) {
    case Method::ping:
      return build_ping(m.transaction_id, q.id);
    case Method::find_node:
      return build_find_node(m.transaction_id, q.id, q.target, q.want);
    case Method::get_peers:
      return build_get_peers(m.transaction_id, q.id, q.info_hash, q.want);
    case Method::announce_peer:
      return build_announce_peer(m.transaction_id, q.id, q.info_hash, q.port, q.token,
                                 q.implied_port);
    case Method::unknown:
      break;
  }
  return {};
}

void check_round_trip(const Message& m) {
  if (m.kind == MessageKind::response) {
    auto again = parse_message(build_response(m.transaction_id, m.response));
    check(again.ok());
    check(again->response.id == m.response.id && again->response.nodes == m.response.nodes &&
          again->response.values == m.response.values && again->response.token == m.response.token);
  } else if (m.kind == MessageKind::error) {
    auto again = parse_message(build_error(m.transaction_id, m.error.code, m.error.text));
    check(again.ok() && again->error.code == m.error.code && again->error.text == m.error.text);
  } else if (m.query.method != Method::unknown) {
    auto again = parse_message(rebuild_query(m));
    check(again.ok());
    const Query &a = again->query, &q = m.query;
    check(a.method == q.method && a.id == q.id && a.target == q.target &&
          a.info_hash == q.info_hash && a.port == q.port && a.token == q.token &&
          a.implied_port == q.implied_port && a.want == q.want);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto m = parse_message(bytes);
  if (m) {
    check_bounds(*m);
    check_round_trip(*m);
  } else {
    check(m.error().message.size() < 1024);
    if (auto tid = query_transaction_id(bytes)) check(tid->size() <= kMaxTransactionIdLength);
  }
  check(parse_compact_nodes(bytes, false).size() <= kMaxNodes);
  check(parse_compact_nodes(bytes, true, 3).size() <= 3);
  if (auto state = parse_state(bytes)) {
    check(state->nodes.size() <= kMaxPersistedNodes);
    auto again = parse_state(serialize_state(state->id, state->nodes));
    check(again.ok() && again->id == state->id && again->nodes == state->nodes);
  }
  return 0;
}
