// --max-upload-rate / --max-download-rate, shared by mount, download and seed: session-wide
// token buckets (KiB/s on the command line, bytes/s in SessionConfig; 0 = unlimited).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>

#include "engine/session.hpp"

namespace torfs::tools {

struct RateArgs {
  std::uint64_t max_upload_kib = 0;
  std::uint64_t max_download_kib = 0;
};

inline void add_rate_options(CLI::App* cmd, RateArgs& args) {
  cmd->add_option("--max-upload-rate", args.max_upload_kib, "Upload limit in KiB/s (0 = none)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-download-rate", args.max_download_kib,
                  "Download limit in KiB/s (0 = none)")
      ->check(CLI::NonNegativeNumber);
}

inline void apply_rate_options(const RateArgs& args, SessionConfig& config) {
  config.max_upload_rate = args.max_upload_kib * 1024;
  config.max_download_rate = args.max_download_kib * 1024;
}

}  // namespace torfs::tools
