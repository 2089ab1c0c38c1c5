// BEP 11 peer exchange (ut_pex) messages and the per-peer diff a sender keeps. Pure.
//
// A message is a bencoded dict: "added"/"dropped" (compact IPv4, 6 bytes each), "added6"/
// "dropped6" (compact IPv6, 18 bytes each) and "added.f"/"added6.f" (one flag byte per added
// peer). Bounded both ways: a sender puts at most kMaxAdded added and kMaxDropped dropped
// peers in one message; the parser keeps at most kMaxParsed of each list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cache/result.hpp"
#include "engine/endpoint.hpp"

namespace torfs::ut_pex {

inline constexpr std::string_view kExtensionName = "ut_pex";
// The extended message id we ask peers to send ut_pex under (our `m` dictionary).
inline constexpr std::uint8_t kLocalId = 1;
inline constexpr std::size_t kMaxAdded = 50;  // BEP 11: "up to 50 added"
inline constexpr std::size_t kMaxDropped = 50;
inline constexpr std::size_t kMaxParsed = 200;  // per list, of what others send
inline constexpr std::size_t kMaxMessageSize = 16 * 1024;

// added.f bits (BEP 11).
inline constexpr std::uint8_t kFlagEncryption = 0x01;
inline constexpr std::uint8_t kFlagSeed = 0x02;
inline constexpr std::uint8_t kFlagUtp = 0x04;
inline constexpr std::uint8_t kFlagHolepunch = 0x08;
inline constexpr std::uint8_t kFlagReachable = 0x10;

struct Peer {
  Endpoint endpoint;
  std::uint8_t flags = 0;
  friend bool operator==(const Peer&, const Peer&) = default;
};

struct Message {
  std::vector<Peer> added;  // IPv4 then IPv6
  std::vector<Endpoint> dropped;
};

// Parses a ut_pex payload. Compact strings whose length is not a multiple of the entry size
// are errors; entries with port 0 are skipped; lists beyond kMaxParsed are truncated; a
// missing or short flags string means flags 0. Errors name the key.
Result<Message> parse(std::string_view payload);
// Encodes at most kMaxAdded added and kMaxDropped dropped peers (the first ones).
std::string encode(const Message& message);

// What one peer has been told: next() compares the peers we are connected to now with what
// we sent before and returns the difference (bounded as above; the rest goes out in later
// messages). Not thread-safe.
class Diff {
 public:
  // nullopt when there is nothing new to say.
  std::optional<Message> next(const std::set<Endpoint>& current,
                              const std::set<Endpoint>& seeds = {});
  const std::set<Endpoint>& sent() const { return sent_; }

 private:
  std::set<Endpoint> sent_;
};

}  // namespace torfs::ut_pex
