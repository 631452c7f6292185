// The real zcrecv binary with sync = publish on a slow disk (tests/tools/slow-disk): files
// become durable on the sync stage while connections go on, a stop publishes what is queued, a
// kill leaves what recovery publishes, and a connection ahead of the disk waits alone.

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/loopback.hpp"
#include "support/poll_until.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/skip.hpp"
#include "support/slow_disk.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMiB = 1024 * 1024;

// Partial files under `out`: files handed to the sync stage and not yet published.
std::size_t partial_files(const fs::path& out) {
  std::size_t count = 0;
  for (const std::string& name : list_files(out)) {
    count += fs::path(name).filename().string().front() == '.' ? 1 : 0;
  }
  return count;
}

// Sends `data` on a new connection and ends it; returns once the daemon has closed it.
void send_and_wait_for_close(const net::SocketAddress& address, std::span<const std::byte> data) {
  auto socket = connect_blocking(address);
  write_all(socket, data);
  REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
  REQUIRE(closed_by_peer(socket, std::chrono::seconds(30)));
}

TEST_CASE("zcrecv durable: SIGTERM with publishes queued publishes them all, byte for byte") {
  TempDir dir;
  SlowDisk disk(dir / "out", 2);
  if (skipped_because(!disk.ready(), disk.error())) {
    return;
  }
  DaemonProcess daemon(dir, {"--max-file-size", "1MiB"}, disk.launcher());
  std::vector<std::vector<std::byte>> sent;
  for (std::size_t i = 0; i < 3; ++i) {
    sent.push_back(random_bytes(3 * kMiB + 1000 * (i + 1), 300 + i));
    // Closed when the stream ends, while its files usually still wait for the disk (2 MB/s);
    // the kernel's own writeback is not throttled, so this run may find them done already.
    // Either way the stop must leave no file partial and lose no byte.
    send_and_wait_for_close(daemon.tcp(), sent.back());
  }
  CHECK(daemon.stop() == 0);
  CHECK(partial_files(daemon.out()) == 0);
  auto streams = reassemble(daemon.out());
  REQUIRE(streams.size() == 3);
  std::vector<std::vector<std::byte>> stored;
  for (const auto& [conn, stream] : streams) {
    CHECK_FALSE(stream.incomplete);
    CHECK(stream.sizes.size() == 4);
    stored.push_back(stream.bytes);
  }
  for (const auto& data : sent) {
    CHECK(std::count(stored.begin(), stored.end(), data) == 1);
  }
}

TEST_CASE("zcrecv durable: SIGKILL before a file is durable, then a restart recovers the file") {
  TempDir dir;
  auto data = random_bytes(4 * kMiB + 7, 310);
  {
    SlowDisk disk(dir / "out", 1);
    if (skipped_because(!disk.ready(), disk.error())) {
      return;
    }
    DaemonProcess daemon(dir, {}, disk.launcher());
    // The stream stays open, so its file cannot have been published, whatever the disk's speed:
    // the daemon dies once every byte is in the partial file.
    auto socket = connect_blocking(daemon.tcp());
    write_all(socket, data);
    poll_until(
        [&] {
          const auto files = list_files(daemon.out());
          return files.size() == 1 && fs::file_size(daemon.out() / files.front()) == data.size();
        },
        "the daemon has written the whole stream into its partial file");
    REQUIRE(partial_files(daemon.out()) == 1);
    daemon.process().signal(SIGKILL);
    CHECK(daemon.process().wait() == 128 + SIGKILL);
    auto stream = recovered_stream(dir, {});
    CHECK(stream.incomplete);
    CHECK(stream.bytes == data);
  }
}

TEST_CASE("zcrecv durable: a connection ahead of the disk pauses alone, another is served") {
  TempDir dir;
  SlowDisk disk(dir / "out", 1);
  if (skipped_because(!disk.ready(), disk.error())) {
    return;
  }
  auto config = dir / "zcrecv.toml";
  write_text(config, "[output]\nwriteback_bytes = \"256KiB\"\n");
  DaemonProcess daemon(dir,
                       {"-c", config.string(), "--workers", "1", "--log-level", "debug",
                        "--metrics", "127.0.0.1:0"},
                       disk.launcher());
  const auto metrics =
      listening_address(daemon.process().wait_for_stderr("metrics listening on "));
  // 8 MiB at 1 MB/s: the first stream runs far ahead of the disk and must wait for it.
  auto big = random_bytes(8 * kMiB, 320);
  Sender ahead(connect_blocking(daemon.tcp()), big);
  daemon.process().wait_for_stderr("reading paused until the disk catches up");
  // The pause is counted where an operator sees it.
  const std::string scrape = http_request(metrics, "/metrics").body;
  const auto counter = scrape.find("\nzcrecv_sync_pauses_total ");
  REQUIRE(counter != std::string::npos);
  CHECK(std::stod(scrape.substr(counter + 26)) >= 1);
  // The same worker serves another connection to its end meanwhile, while the first still has
  // seconds of its stream to go.
  auto small = random_bytes(10 * 1024, 321);
  send_and_wait_for_close(daemon.unix_socket(), small);
  CHECK(ahead.join().empty());
  daemon.wait_for_ended(2);
  // The small stream's end line comes before the big one's: it did not wait behind it.
  const std::string log = daemon.process().stderr_text();
  const auto small_ended = log.find(" on unix-in.sock from ");
  const auto big_ended = log.find(" on tcp-127.0.0.1-0 from ");
  REQUIRE(small_ended != std::string::npos);
  REQUIRE(big_ended != std::string::npos);
  CHECK(small_ended < big_ended);
  CHECK(daemon.stop() == 0);
  auto streams = reassemble(daemon.out());
  REQUIRE(streams.size() == 2);
  std::vector<std::vector<std::byte>> stored;
  for (const auto& [conn, stream] : streams) {
    CHECK_FALSE(stream.incomplete);
    stored.push_back(stream.bytes);
  }
  CHECK(std::count(stored.begin(), stored.end(), big) == 1);
  CHECK(std::count(stored.begin(), stored.end(), small) == 1);
}

TEST_CASE("zcrecv durable: a failed fdatasync publishes .incomplete at once and answers ERR") {
  TempDir dir;
  // The device takes 4 MB, then fails every write: fdatasync fails, buffered writes do not.
  SlowDisk disk(dir / "out", 1000, "4M");
  if (skipped_because(!disk.ready(), disk.error())) {
    return;
  }
  auto config = dir / "zcrecv.toml";
  // A 64 MB filesystem is below the default min_free_space.
  write_text(config, "[output]\nwriteback_bytes = \"0\"\n[limits]\nmin_free_space = \"0\"\n");
  DaemonProcess daemon(dir, {"-c", config.string(), "--receipt", "--sync", "publish"});
  auto data = random_bytes(8 * kMiB, 330);
  auto socket = connect_blocking(daemon.tcp());
  write_all(socket, data);
  REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
  const std::string receipt = read_until_closed(socket, std::chrono::seconds(60));
  const bool refused = receipt.starts_with("ERR ") && receipt.ends_with(" publish_failed\n");
  CHECK_MESSAGE(refused, receipt);
  // Published .incomplete before any restart, and an error line names the file.
  const auto files = list_files(daemon.out());
  REQUIRE(files.size() == 1);
  REQUIRE(files.front().ends_with(".incomplete"));
  const std::string name = files.front().substr(0, files.front().size() - 11);
  const std::string error = daemon.process().wait_for_stderr("fdatasync: ");
  CHECK(error.find(name) != std::string::npos);
  const bool errno_named = error.find("No space left on device") != std::string::npos ||
                           error.find("Input/output error") != std::string::npos;
  CHECK_MESSAGE(errno_named, error);
  CHECK(daemon.stop() == 0);
}

}  // namespace
}  // namespace zcrecv::test
