// The real zcrecv binary as a daemon: real listeners, real signals, real files, and a real
// restart after SIGKILL. Every stream is reassembled from its files and compared byte for byte.

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/poll_until.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/skip.hpp"
#include "support/small_tmpfs.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr std::size_t kKiB = 1024;

// Waits until `path` holds `size` bytes. The daemon announces nothing per chunk written.
void wait_for_size(const fs::path& path, std::uintmax_t size) {
  poll_until(
      [&] {
        std::error_code error;
        return fs::file_size(path, error) == size;
      },
      path.string() + " holds " + std::to_string(size) + " bytes");
}

TEST_CASE("zcrecv daemon: 50 concurrent TCP and Unix streams, rotated by size, byte for byte") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--max-file-size", "256KiB", "--sync", "none"});
  std::mt19937_64 random(20261124);
  constexpr std::size_t kStreams = 50;
  constexpr std::array<std::size_t, 5> kChunks{512, 4096, 10000, 65536, 262144};
  std::vector<std::vector<std::byte>> sent;
  for (std::size_t i = 0; i < kStreams; ++i) {
    sent.push_back(random_bytes(1 + random() % (3 * kKiB * kKiB), 100 + i));
  }
  std::vector<std::unique_ptr<Sender>> senders;
  for (std::size_t i = 0; i < kStreams; ++i) {
    SenderOptions options{.chunk_size = kChunks[random() % kChunks.size()],
                          .pause = milliseconds(i % 5 == 0 ? 1 : 0)};
    const auto& address = i % 2 == 0 ? daemon.tcp() : daemon.unix_socket();
    senders.push_back(std::make_unique<Sender>(connect_blocking(address), sent[i], options));
  }
  for (auto& sender : senders) {
    CHECK(sender->join().empty());
  }
  daemon.wait_for_ended(kStreams);
  CHECK(daemon.stop() == 0);

  auto streams = reassemble(daemon.out());
  REQUIRE(streams.size() == kStreams);
  std::vector<bool> matched(kStreams, false);
  for (const auto& [conn, stream] : streams) {
    INFO("connection ", conn);
    CHECK_FALSE(stream.incomplete);
    for (std::size_t i = 0; i + 1 < stream.sizes.size(); ++i) {
      CHECK(stream.sizes[i] == 256 * kKiB);
    }
    CHECK(stream.sizes.back() <= 256 * kKiB);
    auto found = std::find_if(sent.begin(), sent.end(), [&](const auto& data) {
      return !matched[static_cast<std::size_t>(&data - sent.data())] && data == stream.bytes;
    });
    REQUIRE(found != sent.end());
    matched[static_cast<std::size_t>(found - sent.begin())] = true;
  }
}

TEST_CASE("zcrecv daemon: --copy-mode decides the data path of every connection") {
  auto data = random_bytes(700 * kKiB + 3, 19);
  for (const char* mode : {"readwrite", "auto"}) {
    INFO("--copy-mode ", mode);
    TempDir run;
    DaemonProcess daemon(run, {"--copy-mode", mode, "--sync", "none"});
    Sender sender(connect_blocking(daemon.tcp()), data);
    CHECK(sender.join().empty());
    daemon.wait_for_ended(1);
    auto line = daemon.process().wait_for_stderr(" files, ");
    CHECK(line.find(std::string(", ") + (mode == std::string("auto") ? "splice" : mode) + ", ") !=
          std::string::npos);
    CHECK(daemon.stop() == 0);
    CHECK(only_stream(daemon.out()).bytes == data);
  }
}

TEST_CASE("zcrecv daemon: SIGUSR1 rotates a stream in progress, and its files are the stream") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--sync", "none", "--log-level", "debug"});
  auto data = random_bytes(300 * kKiB, 7);
  auto socket = connect_blocking(daemon.tcp());
  write_all(socket, prefix(data, 1000));
  // Rotate until the daemon has read the first bytes and published them as {seq} 0.
  for (std::size_t signals = 1;
       daemon.process().stderr_text().find(": published ") == std::string::npos; ++signals) {
    REQUIRE(signals < 1000);
    daemon.process().signal(SIGUSR1);
    daemon.process().wait_for_stderr_count("SIGUSR1: rotating", signals);
  }
  write_all(socket, std::span(data).subspan(1000));
  socket.reset();
  daemon.wait_for_ended(1);
  CHECK(daemon.stop() == 0);
  auto stream = only_stream(daemon.out());
  CHECK(stream.sizes.size() >= 2);
  CHECK_FALSE(stream.incomplete);
  CHECK(stream.bytes == data);
}

TEST_CASE("zcrecv daemon: time rotation publishes files while a slow stream goes on") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--sync", "none", "--rotate-interval", "150ms"});
  auto data = random_bytes(120 * 4096, 8);
  Sender sender(connect_blocking(daemon.unix_socket()), data,
                {.chunk_size = 4096, .pause = milliseconds(5)});
  CHECK(sender.join().empty());
  daemon.wait_for_ended(1);
  CHECK(daemon.stop() == 0);
  auto stream = only_stream(daemon.out());
  CHECK(stream.sizes.size() >= 2);
  CHECK(stream.bytes == data);
}

TEST_CASE("zcrecv daemon: SIGHUP applies a changed file and keeps the old one when broken") {
  TempDir dir;
  auto config = dir / "zcrecv.toml";
  auto base = std::string("[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"a\"\n") +
              "[output]\ndirectory = \"" + (dir / "out").string() +
              "\"\nname = \"{listener}/{conn}-{seq}.bin\"\nsync = \"none\"\n";
  write_text(config, base);
  Process zcrecv({zcrecv_binary(), "-c", config.string()});
  auto a = listening_address(zcrecv.wait_for_stderr("listening on 127.0.0.1"));
  auto open_across = connect_blocking(a);
  auto first = random_bytes(50 * kKiB, 9);
  write_all(open_across, prefix(first, 20 * kKiB));

  SUBCASE("a valid change opens the new listener and cuts nothing") {
    auto socket_path = dir / "b.sock";
    write_text(config, base + "[[listen]]\naddress = \"unix:" + socket_path.string() +
                           "\"\nname = \"b\"\n");
    zcrecv.signal(SIGHUP);
    auto b = listening_address(zcrecv.wait_for_stderr("listening on unix:"));
    auto other = random_bytes(10 * kKiB, 10);
    Sender sender(connect_blocking(b), other);
    CHECK(sender.join().empty());
    write_all(open_across, std::span(first).subspan(20 * kKiB));
    open_across.reset();
    zcrecv.wait_for_stderr_count(" files, ", 2);
    zcrecv.signal(SIGTERM);
    CHECK(zcrecv.wait() == 0);
    CHECK(only_stream(dir / "out" / "a").bytes == first);
    CHECK(only_stream(dir / "out" / "b").bytes == other);
    CHECK_FALSE(fs::exists(socket_path));
  }
  SUBCASE("a broken file is refused with its errors and the old configuration serves on") {
    write_text(config, base + "[limits]\nidle_timeout = \"soon\"\n");
    zcrecv.signal(SIGHUP);
    zcrecv.wait_for_stderr("reload failed, keeping the old configuration");
    CHECK(zcrecv.wait_for_stderr("limits.idle_timeout").find("zcrecv.toml:") != std::string::npos);
    auto later = random_bytes(10 * kKiB, 11);
    Sender sender(connect_blocking(a), later);
    CHECK(sender.join().empty());
    write_all(open_across, std::span(first).subspan(20 * kKiB));
    open_across.reset();
    zcrecv.wait_for_stderr_count(" files, ", 2);
    zcrecv.signal(SIGTERM);
    CHECK(zcrecv.wait() == 0);
    auto streams = reassemble(dir / "out" / "a");
    REQUIRE(streams.size() == 2);
    std::vector<std::vector<std::byte>> contents;
    for (const auto& [conn, stream] : streams) {
      contents.push_back(stream.bytes);
    }
    CHECK(std::count(contents.begin(), contents.end(), first) == 1);
    CHECK(std::count(contents.begin(), contents.end(), later) == 1);
  }
}

TEST_CASE("zcrecv daemon: SIGTERM drains a stream that ends and cuts one that does not") {
  TempDir dir;
  auto config = dir / "zcrecv.toml";
  write_text(config, "[limits]\nshutdown_timeout = \"1s\"\n");
  DaemonProcess daemon(dir, {"-c", config.string(), "--sync", "none"});
  auto data = random_bytes(64 * kKiB, 12);
  auto finishing = connect_blocking(daemon.tcp());
  auto stalling = connect_blocking(daemon.unix_socket());
  write_all(finishing, prefix(data, 1000));
  write_all(stalling, prefix(data, 2000));
  daemon.process().signal(SIGTERM);
  daemon.process().wait_for_stderr("stopping: listeners closed");
  // The listeners are closed: a new connection is refused.
  CHECK_THROWS(connect_blocking(daemon.tcp()));
  write_all(finishing, std::span(data).subspan(1000));
  finishing.reset();
  CHECK(daemon.process().wait() == 0);
  auto streams = reassemble(daemon.out());
  REQUIRE(streams.size() == 2);
  std::size_t complete = 0;
  for (const auto& [conn, stream] : streams) {
    if (stream.incomplete) {
      CHECK(stream.bytes == prefix(data, 2000));
    } else {
      CHECK(stream.bytes == data);
      ++complete;
    }
  }
  CHECK(complete == 1);
}

TEST_CASE("zcrecv daemon: after SIGKILL, a restart publishes the partial file as .incomplete") {
  TempDir dir;
  auto data = random_bytes(100'000, 13);
  fs::path partial;
  {
    DaemonProcess daemon(dir, {"--sync", "none"});
    auto socket = connect_blocking(daemon.tcp());
    write_all(socket, data);
    poll_until(
        [&] {
          for (const auto& name :
               fs::exists(daemon.out()) ? list_files(daemon.out()) : std::vector<std::string>{}) {
            partial = daemon.out() / name;
          }
          return !partial.empty();
        },
        "a partial file exists");
    REQUIRE(partial.filename().string().ends_with(".part"));
    wait_for_size(partial, data.size());
    daemon.process().signal(SIGKILL);
    CHECK(daemon.process().wait() == 128 + SIGKILL);
  }
  auto stream = recovered_stream(dir, {"--sync", "none"});
  CHECK(stream.incomplete);
  CHECK(stream.bytes == data);
}

TEST_CASE("zcrecv daemon: a peer outside --allow is closed before any file exists") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--allow", "10.0.0.0/8"});
  auto socket = connect_blocking(daemon.tcp());
  auto data = random_bytes(4096, 14);
  ::send(socket.get(), data.data(), data.size(), MSG_NOSIGNAL);
  daemon.process().wait_for_stderr("rejected");
  // The daemon closed its end: the client sees the end of the stream (or a reset).
  std::array<std::byte, 16> buffer{};
  CHECK(::recv(socket.get(), buffer.data(), buffer.size(), 0) <= 0);
  CHECK(daemon.stop() == 0);
  CHECK((!fs::exists(daemon.out()) || list_files(daemon.out()).empty()));
}

TEST_CASE("zcrecv daemon: idle timeout and max bytes cut a connection and keep its bytes") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--idle-timeout", "300ms", "--max-bytes", "100000", "--sync", "none"});
  auto data = random_bytes(300'000, 15);
  SUBCASE("idle") {
    auto socket = connect_blocking(daemon.tcp());
    write_all(socket, prefix(data, 5000));
    daemon.wait_for_ended(1);
    CHECK(daemon.process().stderr_text().find("idle_timeout") != std::string::npos);
    CHECK(daemon.stop() == 0);
    auto stream = only_stream(daemon.out());
    CHECK(stream.incomplete);
    CHECK(stream.bytes == prefix(data, 5000));
  }
  SUBCASE("max bytes") {
    Sender sender(connect_blocking(daemon.unix_socket()), data);
    daemon.wait_for_ended(1);
    sender.join();
    CHECK(daemon.stop() == 0);
    auto stream = only_stream(daemon.out());
    CHECK(stream.incomplete);
    CHECK(stream.bytes == prefix(data, 100'000));
  }
}

TEST_CASE(
    "zcrecv daemon: a full disk pauses reading, loses nothing, and resumes when space returns") {
  TempDir dir;
  SmallTmpfs disk(dir / "out", 2 * 1024 * kKiB);
  if (skipped_because(!disk.mounted(), disk.error())) {
    return;
  }
  // Most of the 2 MiB taken, so the stream below fills the rest.
  auto filler = disk.fill(512 * kKiB);
  auto config = dir / "zcrecv.toml";
  write_text(config, "[limits]\nmin_free_space = \"0\"\n");
  DaemonProcess daemon(dir, {"-c", config.string(), "--sync", "none"});
  // Twelve streams over TCP and Unix, 1.4 MiB in all: more than the 0.5 MiB left.
  std::vector<std::vector<std::byte>> sent;
  std::vector<std::unique_ptr<Sender>> senders;
  for (std::size_t i = 0; i < 12; ++i) {
    sent.push_back(random_bytes(i == 0 ? 512 * kKiB : 80 * kKiB + i, 16 + i));
    const auto& address = i % 2 == 0 ? daemon.tcp() : daemon.unix_socket();
    senders.push_back(std::make_unique<Sender>(connect_blocking(address), sent.back()));
  }
  daemon.process().wait_for_stderr("reading paused");
  fs::remove(filler);
  for (auto& sender : senders) {
    CHECK(sender->join().empty());
  }
  daemon.wait_for_ended(sent.size());
  // Alive and serving after the pause.
  sent.push_back(random_bytes(1000, 40));
  Sender after(connect_blocking(daemon.tcp()), sent.back());
  CHECK(after.join().empty());
  daemon.wait_for_ended(sent.size());
  CHECK(daemon.stop() == 0);
  auto streams = reassemble(daemon.out());
  REQUIRE(streams.size() == sent.size());
  std::vector<std::vector<std::byte>> contents;
  for (const auto& [conn, stream] : streams) {
    CHECK_FALSE(stream.incomplete);
    contents.push_back(stream.bytes);
  }
  for (const auto& expected : sent) {
    CHECK(std::count(contents.begin(), contents.end(), expected) == 1);
  }
}

}  // namespace
}  // namespace zcrecv::test
