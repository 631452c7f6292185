// Record boundaries end to end (issue 22): with a record delimiter, files rotated for size, by
// SIGUSR1 or at their interval end just after a delimiter, the concatenation of a stream's files
// is exactly what was sent, and only a record longer than record_max is split (and counted).

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/poll_until.hpp"
#include "support/process.hpp"
#include "support/sender.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;

// Newline-delimited records of `count` lines of 1..`longest` bytes each (the newline included),
// seeded: what a log shipper sends.
std::vector<std::byte> ndjson(std::size_t count, std::size_t longest, unsigned seed) {
  std::mt19937 random(seed);
  std::vector<std::byte> bytes;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t length = 1 + random() % longest;
    for (std::size_t j = 0; j + 1 < length; ++j) {
      bytes.push_back(static_cast<std::byte>('a' + random() % 26));
    }
    bytes.push_back(std::byte{'\n'});
  }
  return bytes;
}

std::string text_of(const std::vector<std::byte>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// How many of `stream`'s files, all but its last, do not end with a newline.
std::size_t files_not_ending_a_line(const StreamFiles& stream) {
  std::size_t offset = 0;
  std::size_t broken = 0;
  for (std::size_t i = 0; i + 1 < stream.sizes.size(); ++i) {
    offset += stream.sizes[i];
    if (stream.sizes[i] == 0 || stream.bytes[offset - 1] != std::byte{'\n'}) {
      ++broken;
    }
  }
  return broken;
}

// A daemon whose files are 16 KiB and whose records are looked for in their last 4 KiB.
std::vector<std::string> small_record_window(const TempDir& dir) {
  const fs::path config = dir / "records.toml";
  write_text(config, "[output]\nrecord_delimiter = \"\\n\"\nrecord_max = \"4KiB\"\n");
  return {"--config", config.string(), "--max-file-size", "16KiB", "--sync", "none"};
}

TEST_CASE("records: 20 NDJSON streams rotated for size end every file on a line, byte for byte") {
  TempDir dir;
  DaemonProcess daemon(dir, small_record_window(dir));
  constexpr std::size_t kStreams = 20;
  std::vector<std::vector<std::byte>> sent;
  std::vector<std::unique_ptr<Sender>> senders;
  for (std::size_t i = 0; i < kStreams; ++i) {
    // Lines of up to 700 bytes: always shorter than record_max (4 KiB), so no file is split.
    sent.push_back(ndjson(400 + 37 * i, 700, static_cast<unsigned>(20261204 + i)));
  }
  for (std::size_t i = 0; i < kStreams; ++i) {
    SenderOptions options{.chunk_size = 1000 + 311 * i};
    senders.push_back(std::make_unique<Sender>(connect_blocking(daemon.tcp()), sent[i], options));
  }
  for (auto& sender : senders) {
    CHECK(sender->join().empty());
  }
  daemon.wait_for_ended(kStreams);
  CHECK(daemon.stop() == 0);
  auto streams = reassemble(daemon.out());
  REQUIRE(streams.size() == kStreams);
  std::size_t files = 0;
  for (const auto& [conn, stream] : streams) {
    INFO("connection ", conn);
    CHECK_FALSE(stream.incomplete);
    CHECK(files_not_ending_a_line(stream) == 0);
    for (const auto size : stream.sizes) {
      CHECK(size <= 16 * 1024);
    }
    files += stream.sizes.size();
    CHECK(std::count(sent.begin(), sent.end(), stream.bytes) == 1);
  }
  // Streams of 100–300 KiB in 16 KiB files: rotation happened, many times.
  CHECK(files > 5 * kStreams);
}

TEST_CASE("records: a line longer than record_max is split at the size, counted, and kept") {
  TempDir dir;
  DaemonProcess daemon(dir, small_record_window(dir));
  // 10 KiB of short lines, then one of 12 KiB (3 × record_max) that crosses the 16 KiB
  // boundary with no newline in the file's last 4 KiB, then short lines again.
  std::vector<std::byte> sent = ndjson(100, 100, 1);
  sent.resize(10 * 1024, std::byte{'x'});
  sent.back() = std::byte{'\n'};
  sent.insert(sent.end(), 12 * 1024 - 1, std::byte{'y'});
  sent.push_back(std::byte{'\n'});
  const auto tail = ndjson(200, 100, 2);
  sent.insert(sent.end(), tail.begin(), tail.end());
  Sender sender(connect_blocking(daemon.tcp()), sent);
  CHECK(sender.join().empty());
  daemon.wait_for_ended(1);
  const std::string log = daemon.process().stderr_text();
  CHECK(log.find("is split across two files") != std::string::npos);
  CHECK(daemon.stop() == 0);
  auto stream = only_stream(daemon.out());
  CHECK(stream.bytes == sent);
  REQUIRE(stream.sizes.size() >= 2);
  // The split file is cut at exactly the size; every other file ends a line.
  CHECK(stream.sizes[0] == 16 * 1024);
  CHECK(stream.bytes[16 * 1024 - 1] == std::byte{'y'});
  CHECK(files_not_ending_a_line(stream) == 1);
}

// Sends "first line\nsecond li", calls `request` (which makes the daemon want a rotation) once
// those bytes are in the partial file, then the rest of the line and one more: the rotation
// waits for the end of "second line", so the stream's two files hold whole lines.
void check_rotation_waits_for_the_line(DaemonProcess& daemon, const std::function<void()>& request) {
  auto socket = connect_blocking(daemon.tcp());
  const std::string head = "first line\nsecond li";
  write_all(socket, std::as_bytes(std::span(head)));
  poll_until(
      [&] {
        std::error_code error;
        for (const auto& entry : fs::directory_iterator(daemon.out(), error)) {
          if (entry.path().extension() == ".part" && entry.file_size() == head.size()) {
            return true;
          }
        }
        return false;
      },
      "the first bytes in the partial file");
  request();
  daemon.process().wait_for_stderr("rotation requested");
  const std::string rest = "ne\nthird line\n";
  write_all(socket, std::as_bytes(std::span(rest)));
  REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
  daemon.wait_for_ended(1);
  CHECK(daemon.stop() == 0);
  auto stream = only_stream(daemon.out());
  REQUIRE(stream.sizes.size() == 2);
  CHECK(text_of(stream.file(0)) == "first line\nsecond line\n");
  CHECK(text_of(stream.file(1)) == "third line\n");
}

TEST_CASE("records: SIGUSR1 closes the file at the next line, not in the middle of one") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--record-delimiter", "\\n", "--sync", "none", "--log-level",
                             "debug"});
  check_rotation_waits_for_the_line(daemon, [&] { daemon.process().signal(SIGUSR1); });
}

TEST_CASE("records: rotate_interval closes the file at the next line, not in the middle of one") {
  TempDir dir;
  // The interval passes while "second li" waits for its end; record_wait (1 s) is far longer
  // than the test takes to send the rest.
  DaemonProcess daemon(dir, {"--record-delimiter", "\\n", "--rotate-interval", "200ms",
                             "--sync", "none", "--log-level", "debug"});
  check_rotation_waits_for_the_line(daemon, [] {});
}

TEST_CASE("records: --once into a directory ends its size-rotated files on lines too") {
  TempDir dir;
  fs::create_directories(dir / "out");
  std::vector<std::string> argv{zcrecv_binary(), "--once", "-l", "127.0.0.1:0", "-o",
                                (dir / "out/").string(), "--name", "{conn}-{seq}.bin"};
  const auto window = small_record_window(dir);
  argv.insert(argv.end(), window.begin(), window.end());
  Process once(argv);
  const auto address = listening_address(once.wait_for_stderr("listening on"));
  const auto sent = ndjson(3000, 200, 3);
  Sender sender(connect_blocking(address), sent);
  CHECK(sender.join().empty());
  CHECK(once.wait() == 0);
  auto stream = only_stream(dir / "out");
  CHECK(stream.bytes == sent);
  CHECK(stream.sizes.size() > 10);
  CHECK(files_not_ending_a_line(stream) == 0);
}

}  // namespace
}  // namespace zcrecv::test
