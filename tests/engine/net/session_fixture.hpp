// Shared by the engine tests that run real Sessions on loopback: a per-test scratch directory,
// a single-file torrent made from generated content, and a quiet SessionConfig.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>

#include "engine/metainfo.hpp"
#include "engine/session.hpp"
#include "engine/torrent_creator.hpp"

namespace torfs::testing {

class SessionFixture : public ::testing::Test {
 protected:
  // `prefix` names the scratch dir: /tmp/<prefix>-<pid>-<test name>.
  explicit SessionFixture(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            (prefix_ + "-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "seed");
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

  std::filesystem::path root_;
  Metainfo metainfo_;
  std::string content_;  // what make_random_torrent() wrote

 private:
  std::string prefix_;
};

}  // namespace torfs::testing
