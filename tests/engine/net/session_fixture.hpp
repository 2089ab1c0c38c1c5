// Shared by the engine tests that run real Sessions on loopback: a per-test scratch directory,
// a single-file torrent made from generated content, and a quiet SessionConfig.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/completion_store.hpp"
#include "engine/metainfo.hpp"
#include "engine/session.hpp"
#include "engine/torrent_creator.hpp"

namespace torfs::testing {

class SessionFixture : public ::testing::Test {
 protected:
  using Clock = std::chrono::steady_clock;
  // What make_random_torrent() makes at SetUp, for fixtures constructed with one.
  struct RandomTorrent {
    std::uint32_t piece_length;
    std::uint64_t size;
    unsigned seed;
  };

  // `prefix` names the scratch dir: /tmp/<prefix>-<pid>-<test name>.
  explicit SessionFixture(std::string prefix) : prefix_(std::move(prefix)) {}
  SessionFixture(std::string prefix, RandomTorrent torrent)
      : prefix_(std::move(prefix)), random_torrent_(torrent) {}

  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            (prefix_ + "-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "seed");
    if (random_torrent_)
      make_random_torrent(random_torrent_->piece_length, random_torrent_->size,
                          random_torrent_->seed);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Writes root_/seed/data.bin with `write` and makes metainfo_ from it.
  void make_torrent(std::uint32_t piece_length, const std::function<void(std::ofstream&)>& write) {
    {
      std::ofstream out(root_ / "seed" / "data.bin", std::ios::binary);
      write(out);
    }
    CreateOptions opt;
    opt.source = root_ / "seed" / "data.bin";
    opt.piece_length = piece_length;
    auto bytes = create_torrent(opt);
    ASSERT_TRUE(bytes) << bytes.error().message;
    auto mi = parse_metainfo(*bytes);
    ASSERT_TRUE(mi) << mi.error().message;
    metainfo_ = *mi;
  }

  // make_torrent() of `size` pseudo-random bytes (from `seed`), kept in content_.
  void make_random_torrent(std::uint32_t piece_length, std::uint64_t size, unsigned seed) {
    std::mt19937_64 rng(seed);
    content_.resize(size);
    for (char& c : content_)
      c = static_cast<char>(rng());
    make_torrent(piece_length,
                 [this](std::ofstream& out) { out.write(content_.data(), content_.size()); });
  }

  // Loopback listener on any port, its own database under root_, no log output.
  SessionConfig config(const std::string& name) const {
    SessionConfig c;
    c.listen = "127.0.0.1:0";
    c.state_db = root_ / (name + ".db");
    c.worker_threads = 2;
    c.log = [](LogLevel, std::string_view) {};
    return c;
  }

  // Seeds metainfo_ from root_/seed (started, no trackers).
  Result<std::shared_ptr<Torrent>> seed(Session& seeder) const {
    if (auto r = seeder.start(); !r) return std::move(r).take_error();
    TorrentConfig tc;
    tc.data_dir = root_ / "seed";
    tc.use_trackers = false;
    return seeder.add_torrent(metainfo_, tc);
  }

  // Asks `t` for `r` and blocks until it is answered; returns the first answer (tests that
  // check the callback runs exactly once do that themselves).
  static std::error_code first_answer(Torrent& t, const RangeRequest& r) {
    auto answer = std::make_shared<std::promise<std::error_code>>();
    auto once = std::make_shared<std::once_flag>();
    t.wait_for_range(r, [answer, once](std::error_code ec) {
      std::call_once(*once, [&] { answer->set_value(ec); });
    });
    return answer->get_future().get();
  }

  // Polls `done` every 20 ms until it holds or `timeout` has passed; returns its last value.
  // A generous deadline for a condition, never a timing check.
  static bool poll_until(const std::function<bool()>& done, Clock::duration timeout) {
    const auto give_up = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= give_up) return done();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  // The piece rows the completion store root_/<db>.db holds for its one torrent (asserted: one
  // torrent, at most `max_rows` rows). Run it under ASSERT_NO_FATAL_FAILURE.
  void load_single_torrent_rows(const std::string& db, std::size_t max_rows,
                                std::vector<PieceIndex>& rows) const {
    auto store = CompletionStore::open(root_ / (db + ".db"));
    ASSERT_TRUE(store) << store.error().message;
    auto torrents = (*store)->list_torrents();
    ASSERT_TRUE(torrents);
    ASSERT_EQ(torrents->size(), 1u);
    auto loaded = (*store)->load_pieces(torrents->front().id);
    ASSERT_TRUE(loaded);
    EXPECT_LE(loaded->size(), max_rows);
    rows = std::move(*loaded);
  }

  std::filesystem::path root_;
  Metainfo metainfo_;
  std::string content_;  // what make_random_torrent() wrote

 private:
  std::string prefix_;
  std::optional<RandomTorrent> random_torrent_;
};

}  // namespace torfs::testing
