#include "engine/dht_lookup.hpp"

#include <algorithm>

#include "engine/dht_routing_table.hpp"

namespace torfs::dht {

Lookup::Lookup(const NodeId& target, std::size_t k, std::size_t alpha, std::size_t max_queries)
    : target_(target), k_(k), alpha_(alpha), max_queries_(max_queries) {}

bool Lookup::before(const Candidate& a, const Candidate& b) const {
  if (a.id_known != b.id_known) return a.id_known;
  return a.id_known && closer_to(target_, a.node.id, b.node.id);
}

void Lookup::insert(Candidate c) {
  const auto at =
      std::upper_bound(candidates_.begin(), candidates_.end(), c,
                       [this](const Candidate& a, const Candidate& b) { return before(a, b); });
  candidates_.insert(at, std::move(c));
  // Over the cap: drop the farthest candidate not yet queried (queried ones are needed to
  // match replies and tokens).
  if (candidates_.size() <= kMaxLookupCandidates) return;
  for (auto it = candidates_.end(); it != candidates_.begin();) {
    --it;
    if (it->state == State::fresh) {
      candidates_.erase(it);
      return;
    }
  }
}

Lookup::Candidate* Lookup::find(const Endpoint& endpoint) {
  const auto it = std::find_if(candidates_.begin(), candidates_.end(),
                               [&](const Candidate& c) { return c.node.endpoint == endpoint; });
  return it == candidates_.end() ? nullptr : &*it;
}

void Lookup::add(const NodeInfo& node) {
  if (node.endpoint.port == 0 || seen_.size() >= kMaxLookupSeen) return;
  if (!seen_.insert(node.endpoint).second) return;
  insert(Candidate{node, true, State::fresh, std::nullopt});
}

void Lookup::add_unknown(const Endpoint& endpoint) {
  if (endpoint.port == 0 || seen_.size() >= kMaxLookupSeen) return;
  if (!seen_.insert(endpoint).second) return;
  insert(Candidate{NodeInfo{NodeId{}, endpoint}, false, State::fresh, std::nullopt});
}

std::vector<NodeInfo> Lookup::next() {
  std::vector<NodeInfo> out;
  std::size_t responded = 0;
  for (Candidate& c : candidates_) {
    if (in_flight_ >= alpha_ || queries_ >= max_queries_) break;
    if (c.state == State::failed || c.state == State::in_flight) continue;
    if (c.state == State::responded) {
      if (++responded >= k_) break;
      continue;
    }
    c.state = State::in_flight;
    ++in_flight_;
    ++queries_;
    out.push_back(c.node);
  }
  return out;
}

void Lookup::on_response(const Endpoint& from, const NodeId& id, const std::vector<NodeInfo>& nodes,
                         std::optional<std::string> token) {
  Candidate* c = find(from);
  if (!c || c->state != State::in_flight) return;
  --in_flight_;
  Candidate updated = *c;
  updated.state = State::responded;
  updated.token = std::move(token);
  updated.node.id = id;
  updated.id_known = true;
  candidates_.erase(candidates_.begin() + (c - candidates_.data()));
  insert(std::move(updated));
  for (const NodeInfo& n : nodes)
    add(n);
}

void Lookup::on_failure(const Endpoint& from) {
  Candidate* c = find(from);
  if (!c || c->state != State::in_flight) return;
  --in_flight_;
  c->state = State::failed;
}

bool Lookup::finished() const {
  if (in_flight_ > 0) return false;
  if (queries_ >= max_queries_) return true;
  std::size_t responded = 0;
  for (const Candidate& c : candidates_) {
    if (c.state == State::responded && ++responded >= k_) return true;
    if (c.state == State::fresh) return false;
  }
  return true;
}

std::vector<std::pair<NodeInfo, std::string>> Lookup::closest_with_tokens() const {
  std::vector<std::pair<NodeInfo, std::string>> out;
  for (const Candidate& c : candidates_) {
    if (out.size() >= k_) break;
    if (c.state == State::responded && c.token && !c.token->empty()) {
      out.emplace_back(c.node, *c.token);
    }
  }
  return out;
}

}  // namespace torfs::dht
