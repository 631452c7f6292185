// A full disk end to end (issue 21): a stream that cannot be written is cut within
// disk_full_timeout with "ERR <n> disk_full", its files hold exactly the n bytes the receipt
// counts, and not one byte taken from the socket is dropped.

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/random_bytes.hpp"
#include "support/skip.hpp"
#include "support/small_tmpfs.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMiB = 1024 * 1024;

// Writes `data` until done or the peer stops taking it (the daemon cut the stream), then
// half-closes: a sender that does not know the disk is full.
void send_what_is_taken(const sys::UniqueFd& socket, std::span<const std::byte> data) {
  while (!data.empty()) {
    const ssize_t sent = ::send(socket.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) {
      continue;
    }
    if (sent <= 0) {
      return;
    }
    data = data.subspan(static_cast<std::size_t>(sent));
  }
  (void)sys::shutdown(socket.get(), SHUT_WR);
}

TEST_CASE("disk full: ERR <n> disk_full within disk_full_timeout, the n bytes kept, none lost") {
  TempDir dir;
  SmallTmpfs disk(dir / "out", 8 * kMiB);
  if (skipped_because(!disk.mounted(), "a small tmpfs: " + disk.error())) {
    return;
  }
  const fs::path config = dir / "zcrecv.toml";
  // min_free_space 0: only the filesystem's own ENOSPC stops the stream.
  write_text(config, "[limits]\nmin_free_space = \"0\"\ndisk_full_timeout = \"1s\"\n");
  DaemonProcess daemon(dir, {"-c", config.string(), "--receipt", "--sync", "none"});
  const auto sent = random_bytes(24 * kMiB, 2101);
  auto socket = connect_blocking(daemon.tcp());
  std::thread sender([&] { send_what_is_taken(socket, sent); });
  // The sender's own patience is 20 s; the daemon answers after disk_full_timeout.
  const std::string receipt = read_until_closed(socket, std::chrono::seconds(20));
  sender.join();
  REQUIRE(receipt.starts_with("ERR "));
  CHECK(receipt.ends_with(" disk_full\n"));
  const std::size_t counted = std::stoull(receipt.substr(4));
  const std::string end = daemon.process().wait_for_stderr(" files, ");
  CHECK(end.find("never written") == std::string::npos);
  CHECK(end.find("the output took no byte for 1 s") != std::string::npos);
  CHECK(daemon.stop() == 0);
  auto stream = only_stream(daemon.out());
  CHECK(stream.incomplete);
  CHECK(stream.bytes.size() == counted);
  CHECK(stream.bytes == prefix(sent, counted));
  // The disk really was the limit: most of it was filled before the cut.
  CHECK(counted > 4 * kMiB);
}

}  // namespace
}  // namespace zcrecv::test
