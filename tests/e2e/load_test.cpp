// Load with signals: hundreds of concurrent TCP and Unix streams of skewed random sizes, written in
// random chunk sizes with random pauses, while SIGUSR1 rotates every open file every few
// milliseconds and SIGHUP reloads a configuration file that changes each time. Afterwards every
// stream is reassembled from its files and compared byte for byte: not one byte may be lost.

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/loopback.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;
constexpr std::size_t kStreams = 200;

// The configurations SIGHUP cycles through: every one keeps the command line's listeners (they
// override the file's), so a reload cuts nothing, and every one changes rotation, idle timeout
// and log level. log_level never drops below info, where the per-connection end lines are.
constexpr std::array<const char*, 3> kConfigs{
    "log_level = \"info\"\n[output]\nmax_file_size = \"1MiB\"\nsync = \"none\"\n"
    "[limits]\nidle_timeout = \"20s\"\n",
    "log_level = \"debug\"\n[output]\nmax_file_size = \"300KiB\"\nsync = \"none\"\n"
    "[limits]\nidle_timeout = \"30s\"\n",
    "log_level = \"info\"\n[output]\nmax_file_size = \"4MiB\"\nsync = \"none\"\n"
    "[limits]\nidle_timeout = \"25s\"\nmax_connections_per_peer = 1000\n"};
constexpr std::uint64_t kLargestMaxFileSize = 4 * kMiB;

// Written beside and renamed over the configuration, so a reload never reads half a file.
void replace_config(const fs::path& config, const std::string& text) {
  auto next = config;
  next += ".next";
  std::ofstream(next, std::ios::trunc) << text;
  fs::rename(next, config);
}

// Sizes skewed so that the total stays modest: one stream of exactly 16 MiB, a few up to 16 MiB,
// more up to 2 MiB, most up to 256 KiB.
std::size_t stream_size(std::size_t index, std::mt19937_64& random) {
  if (index == 0) {
    return 16 * kMiB;
  }
  if (index % 50 == 0) {
    return 1 + random() % (16 * kMiB);
  }
  if (index % 8 == 0) {
    return 1 + random() % (2 * kMiB);
  }
  return 1 + random() % (256 * kKiB);
}

TEST_CASE("zcrecv load: 200 TCP and Unix streams under SIGUSR1 and SIGHUP lose no byte") {
  TempDir dir;
  auto config = dir / "zcrecv.toml";
  replace_config(config, kConfigs[0]);
  DaemonProcess daemon(dir, {"-c", config.string()});
  std::mt19937_64 random(20261124);
  constexpr std::array<std::size_t, 6> kChunks{1000, 4096, 9000, 65536, 200000, 1 * kMiB};

  std::vector<std::vector<std::byte>> sent;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kStreams; ++i) {
    sent.push_back(random_bytes(stream_size(i, random), 1000 + i));
    total += sent.back().size();
  }

  std::atomic<bool> sending{true};
  std::size_t rotations = 0;
  std::size_t reloads = 0;
  // SIGUSR1 every 2 ms and, every 10th time, a SIGHUP after the file changed.
  std::thread signaller([&] {
    while (sending.load()) {
      daemon.process().signal(SIGUSR1);
      ++rotations;
      if (rotations % 10 == 0) {
        replace_config(config, kConfigs[(reloads + 1) % kConfigs.size()]);
        daemon.process().signal(SIGHUP);
        ++reloads;
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
  });

  std::vector<std::unique_ptr<Sender>> senders;
  for (std::size_t i = 0; i < kStreams; ++i) {
    std::size_t chunk = kChunks[random() % kChunks.size()];
    // Pauses only where they keep the stream short: at most 200 pauses of 0..10 ms.
    milliseconds pause(sent[i].size() / chunk <= 200 ? random() % 11 : 0);
    const auto& address = i % 2 == 0 ? daemon.tcp() : daemon.unix_socket();
    senders.push_back(std::make_unique<Sender>(connect_blocking(address), sent[i],
                                               SenderOptions{.chunk_size = chunk, .pause = pause}));
  }
  for (auto& sender : senders) {
    CHECK(sender->join().empty());
  }
  sending.store(false);
  signaller.join();
  // The load lasted long enough for the signals to land in the middle of it.
  CHECK(reloads >= 5);
  daemon.wait_for_ended(kStreams);
  CHECK(daemon.stop() == 0);

  const std::string log = daemon.process().stderr_text();
  CHECK(log.find("reload failed") == std::string::npos);
  CHECK(log.find("configuration reloaded") != std::string::npos);
  CHECK(log.find("SIGUSR1: rotating") != std::string::npos);

  auto streams = reassemble(daemon.out());
  CHECK(streams.size() == kStreams);
  std::vector<bool> matched(kStreams, false);
  std::uint64_t received = 0;
  std::size_t files = 0;
  std::size_t incomplete = 0;
  for (const auto& [conn, stream] : streams) {
    files += stream.sizes.size();
    incomplete += stream.incomplete ? 1 : 0;
    CHECK(*std::max_element(stream.sizes.begin(), stream.sizes.end()) <= kLargestMaxFileSize);
    for (std::size_t i = 0; i < kStreams; ++i) {
      if (!matched[i] && sent[i] == stream.bytes) {
        matched[i] = true;
        received += stream.bytes.size();
        break;
      }
    }
  }
  const std::uint64_t lost = total - received;
  MESSAGE("streams ", streams.size(), " of ", kStreams, ", bytes ", total, ", files ", files,
          ", signals SIGUSR1 ", rotations, " SIGHUP ", reloads, ", bytes lost ", lost);
  CHECK(incomplete == 0);
  CHECK(std::count(matched.begin(), matched.end(), true) == kStreams);
  CHECK(lost == 0);
}

}  // namespace
}  // namespace zcrecv::test
