// Two engine sessions on loopback with every pairing of encryption policies: the download
// completes byte-exact, and the leecher's log says what was negotiated (plain, MSE with
// plaintext selected, or RC4, reached directly or by the one retry after a hang-up).
#include <gtest/gtest.h>

#include <unistd.h>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include "engine/session.hpp"
#include "tests/engine/net/session_fixture.hpp"

namespace torfs {
namespace {

using namespace std::chrono_literals;
using P = EncryptionPolicy;

struct Pairing {
  P seeder, leecher;
  const char* expect;  // in the leecher's log ("" = no MSE at all)
  const char* name;
};

class SessionEncryptionTest : public testing::SessionFixture,
                              public ::testing::WithParamInterface<Pairing> {
 protected:
  SessionEncryptionTest() : SessionFixture("torfs-session-enc-test", {32 * 1024, 700'001, 9}) {}
};

TEST_P(SessionEncryptionTest, DownloadCompletesWithTheNegotiatedEncryption) {
  const Pairing& p = GetParam();
  SessionConfig sc = config("seeder");
  sc.encryption = p.seeder;
  Session seeder(sc);
  ASSERT_TRUE(seed(seeder));

  auto lines = std::make_shared<std::string>();
  auto mutex = std::make_shared<std::mutex>();
  SessionConfig lc = config("leecher");
  lc.encryption = p.leecher;
  lc.log = [lines, mutex](LogLevel, std::string_view line) {
    std::lock_guard lock(*mutex);
    lines->append(line).push_back('\n');
  };
  Session leecher(lc);
  ASSERT_TRUE(leecher.start());
  TorrentConfig tc;
  tc.data_dir = root_ / "leech";
  tc.use_trackers = false;
  tc.peers = {"127.0.0.1:" + std::to_string(seeder.listen_port())};
  auto t = leecher.add_torrent(metainfo_, tc);
  ASSERT_TRUE(t) << t.error().message;
  auto done = std::make_shared<std::promise<void>>();
  (*t)->on_complete([done] { done->set_value(); });
  ASSERT_EQ(done->get_future().wait_for(60s), std::future_status::ready);
  std::string data(content_.size(), '\0');
  ASSERT_EQ(pread((*t)->file_fd(FileIndex(0)), data.data(), data.size(), 0),
            static_cast<ssize_t>(data.size()));
  EXPECT_TRUE(data == content_);
  leecher.stop();
  seeder.stop();
  std::lock_guard lock(*mutex);
  if (*p.expect) {
    EXPECT_NE(lines->find(p.expect), std::string::npos) << *lines;
  } else {
    EXPECT_EQ(lines->find("MSE"), std::string::npos) << *lines;
  }
}

constexpr const char* kRc4 = "protocol encryption (MSE/PE), RC4";
constexpr const char* kMsePlain = "protocol encryption (MSE/PE), plaintext selected";

INSTANTIATE_TEST_SUITE_P(
    Policies, SessionEncryptionTest,
    ::testing::Values(Pairing{P::prefer_plaintext, P::prefer_plaintext, "", "plain_plain"},
                      Pairing{P::prefer_plaintext, P::prefer_rc4, kMsePlain, "plain_prefer"},
                      Pairing{P::prefer_rc4, P::prefer_rc4, kRc4, "prefer_prefer"},
                      Pairing{P::require_rc4, P::prefer_plaintext, "retrying with MSE",
                              "require_plain"},
                      Pairing{P::prefer_plaintext, P::require_rc4, kRc4, "plain_require"},
                      Pairing{P::require_rc4, P::require_rc4, kRc4, "require_require"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace torfs
