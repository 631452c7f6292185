// The real zcrecv binary in --once and --stdin mode, fed by real clients over loopback TCP and
// Unix sockets.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/poll_until.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/skip.hpp"
#include "support/small_tmpfs.hpp"
#include "support/socket_pair.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> once_args(const std::string& listen, const std::string& out,
                                   std::vector<std::string> extra = {}) {
  std::vector<std::string> args{zcrecv_binary(), "--once", "-l", listen, "-o", out,
                                "--sync",        "none"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Sends `data` to the zcrecv child once it listens, and returns after the sender is done.
void send_to(Process& zcrecv, std::span<const std::byte> data, SenderOptions options = {}) {
  auto address = listening_address(zcrecv.wait_for_stderr("listening on "));
  Sender sender(connect_blocking(address), data, options);
  auto problem = sender.join();
  REQUIRE_MESSAGE(problem.empty(), problem);
}

TEST_CASE("--once receives a TCP stream into a file, byte for byte, and exits 0") {
  TempDir dir;
  auto data = random_bytes(3 * 1024 * 1024 + 17, 1);
  auto out = dir / "received.bin";
  Process zcrecv(once_args("127.0.0.1:0", out.string()));
  send_to(zcrecv, data, {.chunk_size = 10000});
  CHECK(zcrecv.wait() == 0);
  CHECK(read_file(out) == data);
  CHECK(list_files(dir.path()) == std::vector<std::string>{"received.bin"});
  auto summary = zcrecv.wait_for_stderr("received ");
  CHECK(summary.find("received 3145745 bytes") != std::string::npos);
  CHECK(summary.find("via splice") != std::string::npos);
  CHECK(summary.find(": complete") != std::string::npos);
}

TEST_CASE("--once receives over a Unix socket and removes the socket file") {
  TempDir dir;
  auto data = random_bytes(1024 * 1024 + 1, 2);
  auto socket_path = dir / "in.sock";
  auto out = dir / "unix.bin";
  Process zcrecv(once_args("unix:" + socket_path.string(), out.string()));
  send_to(zcrecv, data);
  CHECK(zcrecv.wait() == 0);
  CHECK(read_file(out) == data);
  CHECK_FALSE(fs::exists(socket_path));
}

TEST_CASE("--once -o - writes into a pipe read by another process, byte for byte") {
  TempDir dir;
  auto data = random_bytes(5 * 1024 * 1024 + 3, 3);
  auto copy = dir / "copy.bin";
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  sys::UniqueFd read_end(fds[0]);
  sys::UniqueFd write_end(fds[1]);
  sys::UniqueFd copy_fd(::open(copy.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  Process cat({"cat"}, {.stdin_fd = read_end.get(), .stdout_fd = copy_fd.get()});
  read_end.reset();
  Process zcrecv(once_args("127.0.0.1:0", "-"), {.stdout_fd = write_end.get()});
  write_end.reset();
  send_to(zcrecv, data);
  CHECK(zcrecv.wait() == 0);
  CHECK(cat.wait() == 0);
  CHECK(read_file(copy) == data);
  CHECK(zcrecv.wait_for_stderr("received ").find("via splice-direct") != std::string::npos);
}

TEST_CASE(
    "--progress draws the live line on stderr, --no-progress (the default off a terminal) none") {
  TempDir dir;
  auto data = random_bytes(3 * 1024 * 1024, 20);
  for (bool progress : {true, false}) {
    auto out = dir / (progress ? "with.bin" : "without.bin");
    Process zcrecv(
        once_args("127.0.0.1:0", out.string(), {progress ? "--progress" : "--no-progress"}));
    send_to(zcrecv, data);
    CHECK(zcrecv.wait() == 0);
    CHECK(read_file(out) == data);
    // The final redraw shows the whole stream: 3.00 MiB.
    CHECK((zcrecv.stderr_text().find("\r\033[K3.00 MiB  ") != std::string::npos) == progress);
  }
}

TEST_CASE("--copy-mode readwrite takes the read/write path and keeps every byte") {
  TempDir dir;
  auto data = random_bytes(2 * 1024 * 1024 + 5, 4);
  auto out = dir / "rw.bin";
  Process zcrecv(once_args("127.0.0.1:0", out.string(), {"--copy-mode", "readwrite"}));
  send_to(zcrecv, data);
  CHECK(zcrecv.wait() == 0);
  CHECK(read_file(out) == data);
  CHECK(zcrecv.wait_for_stderr("received ").find("via readwrite") != std::string::npos);
}

TEST_CASE("--once -o - into a file opened O_APPEND falls back to read/write and keeps every byte") {
  TempDir dir;
  auto data = random_bytes(1024 * 1024 + 7, 5);
  auto out = dir / "append.bin";
  sys::UniqueFd append(::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  Process zcrecv(once_args("127.0.0.1:0", "-"), {.stdout_fd = append.get()});
  send_to(zcrecv, data);
  CHECK(zcrecv.wait() == 0);
  CHECK(read_file(out) == data);
  CHECK(zcrecv.wait_for_stderr("received ").find("via readwrite") != std::string::npos);
}

TEST_CASE("--stdin receives the connection that is its standard input") {
  TempDir dir;
  auto data = random_bytes(700 * 1024 + 9, 6);
  auto out = dir / "stdin.bin";
  auto pair = make_tcp_pair();
  Process zcrecv({zcrecv_binary(), "--stdin", "-o", out.string()},
                 {.stdin_fd = pair.receiver.get()});
  pair.receiver.reset();
  Sender sender(std::move(pair.sender), data);
  REQUIRE(sender.join().empty());
  CHECK(zcrecv.wait() == 0);
  CHECK(read_file(out) == data);
}

TEST_CASE("--once into a directory rotates by size: exact file sizes, exact concatenation") {
  TempDir dir;
  auto data = random_bytes(2500 * 1000, 7);
  auto out = dir / "spool";
  fs::create_directory(out);
  Process zcrecv(once_args("127.0.0.1:0", out.string() + "/",
                           {"--max-file-size", "1MB", "--name", "{seq}.bin"}));
  send_to(zcrecv, data);
  CHECK(zcrecv.wait() == 0);
  auto files = list_files(out);
  REQUIRE(files == std::vector<std::string>{"000000.bin", "000001.bin", "000002.bin"});
  std::vector<std::byte> joined;
  for (const auto& name : files) {
    auto part = read_file(out / name);
    CHECK(part.size() <= 1000 * 1000);
    joined.insert(joined.end(), part.begin(), part.end());
  }
  CHECK(read_file(out / "000000.bin").size() == 1000 * 1000);
  CHECK(joined == data);
}

TEST_CASE("--max-bytes: a stream of exactly the limit completes, a longer one is cut there") {
  TempDir dir;
  auto data = random_bytes(100'000, 8);
  SUBCASE("exact") {
    auto out = dir / "exact.bin";
    Process zcrecv(once_args("127.0.0.1:0", out.string(), {"--max-bytes", "100000"}));
    send_to(zcrecv, data);
    CHECK(zcrecv.wait() == 0);
    CHECK(read_file(out) == data);
  }
  SUBCASE("longer") {
    auto out = dir / "cut.bin";
    Process zcrecv(once_args("127.0.0.1:0", out.string(), {"--max-bytes", "65536"}));
    auto address = listening_address(zcrecv.wait_for_stderr("listening on "));
    Sender sender(connect_blocking(address), data);
    CHECK(zcrecv.wait() == 1);
    sender.join();
    CHECK_FALSE(fs::exists(out));
    auto kept = read_file(dir / "cut.bin.incomplete");
    CHECK(kept == std::vector<std::byte>(data.begin(), data.begin() + 65536));
    CHECK(zcrecv.stderr_text().find("max_connection_bytes (") != std::string::npos);
  }
}

TEST_CASE("--timeout with no connection exits 3 and leaves no file") {
  TempDir dir;
  auto out = dir / "never.bin";
  Process zcrecv(once_args("127.0.0.1:0", out.string(), {"--timeout", "200ms"}));
  CHECK(zcrecv.wait() == 3);
  CHECK(list_files(dir.path()).empty());
  CHECK(zcrecv.stderr_text().find("no connection arrived") != std::string::npos);
}

TEST_CASE("--timeout on a stalled stream exits 3 and keeps what arrived as .incomplete") {
  TempDir dir;
  auto data = random_bytes(4096, 9);
  auto out = dir / "stall.bin";
  Process zcrecv(once_args("127.0.0.1:0", out.string(), {"--timeout", "300ms"}));
  auto address = listening_address(zcrecv.wait_for_stderr("listening on "));
  auto socket = connect_blocking(address);
  REQUIRE(::write(socket.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  CHECK(zcrecv.wait() == 3);
  CHECK(read_file(dir / "stall.bin.incomplete") == data);
}

TEST_CASE("--once on a full disk pauses, keeps every byte, and completes when space returns") {
  TempDir dir;
  SmallTmpfs disk(dir / "disk", 2 * 1024 * 1024);
  if (skipped_because(!disk.mounted(), disk.error())) {
    return;
  }
  auto filler = disk.fill(512 * 1024);
  auto data = random_bytes(1024 * 1024 + 5, 12);
  auto out = dir / "disk" / "full.bin";
  Process zcrecv(once_args("127.0.0.1:0", out.string()));
  auto address = listening_address(zcrecv.wait_for_stderr("listening on "));
  Sender sender(connect_blocking(address), data);
  auto paused = zcrecv.wait_for_stderr("reading paused");
  CHECK(paused.find("No space left on device") != std::string::npos);
  fs::remove(filler);
  CHECK(sender.join().empty());
  CHECK(zcrecv.wait() == 0);
  CHECK(read_file(out) == data);
  CHECK(zcrecv.stderr_text().find("reading resumed") != std::string::npos);
  CHECK(zcrecv.wait_for_stderr("received ").find(": complete") != std::string::npos);
}

TEST_CASE("--once on a disk that stays full gives up at --timeout and loses no byte") {
  TempDir dir;
  SmallTmpfs disk(dir / "disk", 2 * 1024 * 1024);
  if (skipped_because(!disk.mounted(), disk.error())) {
    return;
  }
  disk.fill(256 * 1024);
  auto data = random_bytes(1024 * 1024, 13);
  auto out = dir / "disk" / "full.bin";
  Process zcrecv(once_args("127.0.0.1:0", out.string(), {"--timeout", "500ms"}));
  auto address = listening_address(zcrecv.wait_for_stderr("listening on "));
  // The sender is cut off when zcrecv gives up; what it reports then does not matter here.
  Sender sender(connect_blocking(address), data);
  CHECK(zcrecv.wait() == 3);
  auto kept = read_file(dir / "disk" / "full.bin.incomplete");
  REQUIRE_FALSE(kept.empty());
  REQUIRE(kept.size() < data.size());
  CHECK(std::equal(kept.begin(), kept.end(), data.begin()));
  auto summary = zcrecv.wait_for_stderr("received ");
  // Space is reserved before bytes are taken: the full disk stops the reading, not the writing.
  CHECK(summary.find("warning: ") != std::string::npos);
  CHECK(summary.find("received " + std::to_string(kept.size()) + " bytes") != std::string::npos);
  CHECK(summary.find("timed out, the output took no byte for") != std::string::npos);
  CHECK(summary.find("never written") == std::string::npos);
}

TEST_CASE("a stream reset by the peer exits 1 and keeps the bytes before the reset") {
  TempDir dir;
  auto data = random_bytes(2 * 1024 * 1024, 10);
  auto out = dir / "reset.bin";
  Process zcrecv(once_args("127.0.0.1:0", out.string()));
  send_to(zcrecv, data, {.reset_after = 1024 * 1024});
  CHECK(zcrecv.wait() == 1);
  auto kept = read_file(dir / "reset.bin.incomplete");
  REQUIRE(kept.size() >= 1024 * 1024);
  CHECK(std::equal(kept.begin(), kept.end(), data.begin()));
  CHECK(zcrecv.stderr_text().find("reset by peer") != std::string::npos);
}

TEST_CASE("SIGINT during a receive keeps the bytes as .incomplete and exits 1") {
  TempDir dir;
  auto data = random_bytes(8192, 11);
  auto out = dir / "interrupted.bin";
  Process zcrecv(once_args("127.0.0.1:0", out.string(), {"--log-level", "debug"}));
  auto address = listening_address(zcrecv.wait_for_stderr("listening on "));
  auto socket = connect_blocking(address);
  REQUIRE(::write(socket.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  zcrecv.wait_for_stderr("connection from ");
  // Interrupted once every byte is in the file: all of them must be kept.
  poll_until(
      [&] {
        const auto files = list_files(dir.path());
        return files.size() == 1 && fs::file_size(dir / files.front()) == data.size();
      },
      "zcrecv has written the 8192 bytes");
  zcrecv.signal(SIGINT);
  CHECK(zcrecv.wait() == 1);
  CHECK(read_file(dir / "interrupted.bin.incomplete") == data);
}

TEST_CASE("an existing output file is refused at start and left untouched") {
  TempDir dir;
  auto out = dir / "exists.bin";
  {
    sys::UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(::write(fd.get(), "keep", 4) == 4);
  }
  Process zcrecv(once_args("127.0.0.1:0", out.string()));
  CHECK(zcrecv.wait() == 1);
  CHECK(read_file(out).size() == 4);
  CHECK(zcrecv.stderr_text().find("never overwrites") != std::string::npos);
}

TEST_CASE("bad arguments exit 2 with a message naming the input") {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases{
      {{"--once", "-l", "127.0.0.1:99999"}, "listen address \"127.0.0.1:99999\""},
      {{"--once", "-l", ":0", "--max-bytes", "lots"}, "--max-bytes: expected a size"},
      {{"--once", "-l", ":0", "--timeout", "5"}, "--timeout: expected a duration"},
      {{"--once", "-l", ":0", "--copy-mode", "fast"}, "--copy-mode"},
      {{"--once", "--stdin"}, "--once and --stdin"},
      {{"--stdin", "-l", ":0"}, "--stdin"},
      {{"--no-such-option"}, "--no-such-option"},
      {{"--timeout", "1s"}, "--timeout: applies to --once and --stdin only"},
      {{"--workers", "-1"}, "--workers"},
      {{"--name", "/abs/{seq}"}, "name template \"/abs/{seq}\""},
      {{"--allow", "10.0.0.0/33"}, "CIDR \"10.0.0.0/33\""},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{zcrecv_binary()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    Process zcrecv(argv);
    INFO("args: ", c.args.front(), " ...");
    CHECK(zcrecv.wait() == 2);
    CHECK_MESSAGE(zcrecv.stderr_text().find(c.message) != std::string::npos, zcrecv.stderr_text());
  }
}

}  // namespace
}  // namespace zcrecv::test
