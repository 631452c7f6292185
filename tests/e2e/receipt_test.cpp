// Delivery receipts from the real zcrecv binary to real clients (nc -N, socat) over loopback TCP
// and Unix sockets: "OK <bytes>" once the stream is durable, "ERR <bytes> <reason>" when it was
// cut, nothing at all from a listener without receipts.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/files.hpp"
#include "support/immutable.hpp"
#include "support/loopback.hpp"
#include "support/poll_until.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/skip.hpp"
#include "support/small_tmpfs.hpp"
#include "support/socket_pair.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMiB = 1024 * 1024;

void write_bytes(const fs::path& path, const std::vector<std::byte>& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Runs a client (`argv`) with `input` as its standard input; returns what it printed.
std::string run_client(const std::vector<std::string>& argv, const fs::path& input) {
  sys::UniqueFd in(::open(input.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(in.valid());
  Process client(argv, {.stdin_fd = in.get()});
  CHECK(client.wait() == 0);
  return client.stdout_text();
}

// Partial (dot) files left under `out`.
std::size_t partial_files(const fs::path& out) {
  std::size_t count = 0;
  for (const std::string& name : list_files(out)) {
    count += fs::path(name).filename().string().front() == '.' ? 1 : 0;
  }
  return count;
}

// Sends `data`, half-closes, and returns what the daemon answers before it closes.
std::string send_for_receipt(const net::SocketAddress& address, std::span<const std::byte> data) {
  auto socket = connect_blocking(address);
  write_all(socket, data);
  REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
  return read_until_closed(socket);
}

TEST_CASE("receipt: nc -N and socat read OK <bytes> over TCP and Unix, for 0, 1 and 1 MiB + 1") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--receipt", "--max-file-size", "256KiB"});
  const std::string tcp = daemon.tcp().to_string();
  const std::string port = tcp.substr(tcp.rfind(':') + 1);
  const std::string unix_path = (dir / "in.sock").string();
  std::size_t streams = 0;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, kMiB + 1}) {
    INFO("size ", size);
    auto input = dir / ("input-" + std::to_string(size));
    write_bytes(input, random_bytes(size, 400 + size));
    const std::string expected = "OK " + std::to_string(size) + "\n";
    CHECK(run_client({"nc", "-N", "127.0.0.1", port}, input) == expected);
    CHECK(run_client({"nc", "-N", "-U", unix_path}, input) == expected);
    CHECK(run_client({"socat", "-t", "30", "-", "TCP:127.0.0.1:" + port}, input) == expected);
    CHECK(run_client({"socat", "-t", "30", "-", "UNIX-CONNECT:" + unix_path}, input) == expected);
    streams += size == 0 ? 0 : 4;
  }
  CHECK(daemon.stop() == 0);
  auto stored = reassemble(daemon.out());
  CHECK(stored.size() == streams);
  for (const auto& [conn, stream] : stored) {
    CHECK_FALSE(stream.incomplete);
    // 1 MiB + 1 in files of 256 KiB: five files.
    CHECK(stream.sizes.size() == (stream.bytes.size() == 1 ? 1 : 5));
  }
}

TEST_CASE("receipt: when the client reads OK, every file is in place under its final name") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--receipt", "--max-file-size", "100KiB"});
  for (std::size_t i = 0; i < 5; ++i) {
    auto data = random_bytes(350'000 + i, 410 + i);
    const std::string answer = send_for_receipt(daemon.tcp(), data);
    CHECK(answer == "OK " + std::to_string(data.size()) + "\n");
    // Checked right then, not after a wait.
    CHECK(partial_files(daemon.out()) == 0);
    bool found = false;
    for (const auto& [conn, stream] : reassemble(daemon.out())) {
      found = found || stream.bytes == data;
    }
    CHECK(found);
  }
  CHECK(daemon.stop() == 0);
}

// The shell example of the README's "Delivery receipts" section, as it stands there.
std::string readme_example() {
  std::ifstream readme(ZCRECV_SOURCE_DIR "/README.md");
  std::string text((std::istreambuf_iterator<char>(readme)), std::istreambuf_iterator<char>());
  const std::string marker = "<!-- receipt-example -->\n```sh\n";
  const auto begin = text.find(marker);
  REQUIRE(begin != std::string::npos);
  const auto body = begin + marker.size();
  return text.substr(body, text.find("```", body) - body);
}

TEST_CASE("receipt: the README's example deletes a file only once zcrecv answered OK") {
  TempDir dir;
  const std::string script = "host=$1 port=$2 file=$3\n" + readme_example();
  auto file = dir / "blob";
  const auto data = random_bytes(123'457, 430);
  write_bytes(file, data);
  {
    DaemonProcess daemon(dir, {});
    const std::string port = std::to_string(daemon.tcp().port());
    // A listener without receipts answers nothing: the file stays.
    Process plain({"sh", "-c", script, "sh", "127.0.0.1", port, file.string()});
    CHECK(plain.wait() != 0);
    CHECK(fs::exists(file));
    CHECK(daemon.stop() == 0);
  }
  DaemonProcess daemon(dir, {"--receipt"});
  const std::string port = std::to_string(daemon.tcp().port());
  Process sent({"sh", "-c", script, "sh", "127.0.0.1", port, file.string()});
  CHECK(sent.wait() == 0);
  CHECK_FALSE(fs::exists(file));
  CHECK(daemon.stop() == 0);
  // Both daemons stored it; only the second said so.
  auto streams = reassemble(daemon.out());
  CHECK(streams.size() == 2);
  for (const auto& [conn, stream] : streams) {
    CHECK(stream.bytes == data);
  }
}

// A receipt daemon whose connections are cut at 1000 bytes, and by `limits` (a [limits] table).
class CuttingDaemon {
 public:
  CuttingDaemon(const TempDir& dir, const std::string& limits)
      : config_(write_config(dir, limits)),
        daemon_(dir, {"-c", config_.string(), "--receipt", "--max-bytes", "1000"}) {}
  DaemonProcess& operator*() { return daemon_; }
  DaemonProcess* operator->() { return &daemon_; }

 private:
  static fs::path write_config(const TempDir& dir, const std::string& limits) {
    auto config = dir / "zcrecv.toml";
    write_text(config, "[limits]\n" + limits);
    return config;
  }

  fs::path config_;
  DaemonProcess daemon_;
};

TEST_CASE("receipt: ERR <limit> max_connection_bytes for a stream longer than the limit") {
  TempDir dir;
  CuttingDaemon daemon(dir, "");
  const auto data = random_bytes(5000, 420);
  CHECK(send_for_receipt(daemon->tcp(), data) == "ERR 1000 max_connection_bytes\n");
  CHECK(daemon->stop() == 0);
  auto stream = only_stream(daemon->out());
  CHECK(stream.incomplete);
  CHECK(stream.bytes == prefix(data, 1000));
}

TEST_CASE("receipt: OK <limit> for a daemon's stream that ends exactly at max_connection_bytes") {
  TempDir dir;
  CuttingDaemon daemon(dir, "");
  const auto data = random_bytes(1000, 426);
  CHECK(send_for_receipt(daemon->tcp(), data) == "OK 1000\n");
  CHECK(daemon->stop() == 0);
  auto stream = only_stream(daemon->out());
  CHECK_FALSE(stream.incomplete);
  CHECK(stream.bytes == data);
}

TEST_CASE("receipt: ERR <bytes> idle_timeout for a sender silent too long") {
  TempDir dir;
  CuttingDaemon daemon(dir, "idle_timeout = \"1s\"\n");
  auto socket = connect_blocking(daemon->unix_socket());
  const auto data = random_bytes(300, 421);
  write_all(socket, data);
  CHECK(read_until_closed(socket) == "ERR 300 idle_timeout\n");
  CHECK(daemon->stop() == 0);
  auto stream = only_stream(daemon->out());
  CHECK(stream.incomplete);
  CHECK(stream.bytes == data);
}

TEST_CASE("receipt: ERR <bytes> shutdown for a stream still open at a stop's deadline") {
  TempDir dir;
  CuttingDaemon daemon(dir, "shutdown_timeout = \"1s\"\n");
  auto socket = connect_blocking(daemon->tcp());
  const auto data = random_bytes(700, 422);
  write_all(socket, data);
  poll_until(
      [&] {
        auto files =
            fs::exists(daemon->out()) ? list_files(daemon->out()) : std::vector<std::string>{};
        return files.size() == 1 && fs::file_size(daemon->out() / files.front()) == 700;
      },
      "the daemon has read the 700 bytes");
  daemon->process().signal(SIGTERM);
  CHECK(read_until_closed(socket) == "ERR 700 shutdown\n");
  CHECK(daemon->process().wait() == 0);
  auto stream = only_stream(daemon->out());
  CHECK(stream.incomplete);
  CHECK(stream.bytes == data);
}

TEST_CASE("receipt: a stream cut right after a file filled ends with an empty NEXT.incomplete") {
  TempDir dir;
  const fs::path config = dir / "zcrecv.toml";
  // keep_empty = false: the mark of the cut is published all the same.
  write_text(config, "[output]\nkeep_empty = false\n\n[limits]\nshutdown_timeout = \"1s\"\n");
  DaemonProcess daemon(dir, {"-c", config.string(), "--receipt", "--max-file-size", "4KiB"});
  auto socket = connect_blocking(daemon.tcp());
  const auto data = random_bytes(8192, 423);
  write_all(socket, data);
  poll_until(
      [&] {
        return fs::exists(daemon.out()) && list_files(daemon.out()).size() == 2 &&
               partial_files(daemon.out()) == 0;
      },
      "both full files published, none open");
  daemon.process().signal(SIGTERM);
  CHECK(read_until_closed(socket) == "ERR 8192 shutdown\n");
  CHECK(daemon.process().wait() == 0);
  auto stream = only_stream(daemon.out());
  CHECK(stream.incomplete);
  CHECK(stream.sizes == std::vector<std::uint64_t>{4096, 4096, 0});
  CHECK(stream.bytes == data);
}

// The count of an "ERR <bytes> <reason>\n" receipt with that reason; fails the test for any other.
std::size_t err_bytes(const std::string& receipt, const std::string& reason) {
  std::smatch match;
  REQUIRE_MESSAGE(std::regex_match(receipt, match, std::regex("ERR ([0-9]+) " + reason + "\n")),
                  "receipt: \"" << receipt << "\"");
  return std::stoull(match[1].str());
}

TEST_CASE("receipt: ERR <bytes> disk_full for a stream the full disk cannot take, its bytes kept") {
  TempDir dir;
  SmallTmpfs disk(dir / "out", 2 * kMiB);
  if (skipped_because(!disk.mounted(), disk.error())) {
    return;
  }
  auto filler = disk.fill(256 * 1024);
  // A disk that stays full cuts the stream once the pause has lasted its limit (today
  // shutdown_timeout, set short here; limits.disk_full_timeout, 5 s by default, where it exists).
  auto config = dir / "zcrecv.toml";
  write_text(config, "[limits]\nmin_free_space = \"0\"\nshutdown_timeout = \"1s\"\n");
  DaemonProcess daemon(dir, {"-c", config.string(), "--receipt", "--sync", "none"});
  // Twice the room left: the socket buffers and the daemon's pipe hold the rest.
  const auto data = random_bytes(512 * 1024, 427);
  const std::size_t kept = err_bytes(send_for_receipt(daemon.tcp(), data), "disk_full");
  CHECK(kept > 0);
  CHECK(kept < data.size());
  fs::remove(filler);
  CHECK(daemon.stop() == 0);
  auto stream = only_stream(daemon.out());
  CHECK(stream.incomplete);
  CHECK(stream.bytes == prefix(data, kept));
}

TEST_CASE("receipt: ERR <bytes> publish_failed when a file cannot be published, its bytes kept") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--receipt", "--sync", "publish"});
  auto socket = connect_blocking(daemon.tcp());
  const auto data = random_bytes(5000, 428);
  write_all(socket, data);
  poll_until(
      [&] {
        const auto files = list_files(daemon.out());
        return files.size() == 1 && fs::file_size(daemon.out() / files.front()) == data.size();
      },
      "the daemon has written the stream into its partial file");
  {
    // Nothing can be renamed in an immutable directory: the file cannot be published.
    Immutable immutable(daemon.out());
    if (skipped_because(!immutable.set(),
                        "chattr +i failed (not root, or a filesystem without the flag)")) {
      return;
    }
    REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
    CHECK(read_until_closed(socket) == "ERR 5000 publish_failed\n");
    CHECK(daemon.stop() == 0);
  }
  // What the daemon could not publish, the next start recovers whole.
  auto stream = recovered_stream(dir, {});
  CHECK(stream.incomplete);
  CHECK(stream.bytes == data);
}

TEST_CASE("receipt: --once --timeout answers ERR <bytes> timeout for a stalled stream, exit 3") {
  TempDir dir;
  const auto out = dir / "stalled.bin";
  Process zcrecv({zcrecv_binary(), "--once", "--receipt", "--timeout", "1s", "-l", "127.0.0.1:0",
                  "-o", out.string()});
  auto socket = connect_blocking(listening_address(zcrecv.wait_for_stderr("listening on ")));
  const auto data = random_bytes(300, 429);
  write_all(socket, data);
  CHECK(read_until_closed(socket) == "ERR 300 timeout\n");
  CHECK(zcrecv.wait() == 3);
  CHECK(read_file(dir / "stalled.bin.incomplete") == data);
}

TEST_CASE("receipt: a listener without receipts writes nothing back") {
  TempDir dir;
  DaemonProcess daemon(dir, {});
  CHECK(send_for_receipt(daemon.tcp(), random_bytes(2000, 423)).empty());
  CHECK(daemon.stop() == 0);
}

TEST_CASE("receipt: --once --receipt and --stdin --receipt answer, and exit as they would") {
  TempDir dir;
  auto data = random_bytes(200'000, 424);
  SUBCASE("--once: OK, exit 0") {
    Process zcrecv({zcrecv_binary(), "--once", "--receipt", "-l", "127.0.0.1:0", "-o",
                    (dir / "once.bin").string()});
    auto address = listening_address(zcrecv.wait_for_stderr("listening on "));
    CHECK(send_for_receipt(address, data) == "OK 200000\n");
    CHECK(zcrecv.wait() == 0);
    CHECK(read_file(dir / "once.bin") == data);
  }
  SUBCASE("--once --max-bytes: ERR at the limit, exit 1") {
    Process zcrecv({zcrecv_binary(), "--once", "--receipt", "-l", "127.0.0.1:0", "--max-bytes",
                    "1000", "-o", (dir / "cut.bin").string()});
    auto address = listening_address(zcrecv.wait_for_stderr("listening on "));
    CHECK(send_for_receipt(address, data) == "ERR 1000 max_connection_bytes\n");
    CHECK(zcrecv.wait() == 1);
    CHECK(read_file(dir / "cut.bin.incomplete").size() == 1000);
  }
  SUBCASE("--stdin: OK on the connection that is standard input, exit 0") {
    auto pair = make_tcp_pair();
    Process zcrecv({zcrecv_binary(), "--stdin", "--receipt", "-o", (dir / "stdin.bin").string()},
                   {.stdin_fd = pair.receiver.get()});
    pair.receiver.reset();
    write_all(pair.sender, data);
    REQUIRE(sys::shutdown(pair.sender.get(), SHUT_WR).ok());
    CHECK(read_until_closed(pair.sender) == "OK 200000\n");
    CHECK(zcrecv.wait() == 0);
    CHECK(read_file(dir / "stdin.bin") == data);
  }
}

}  // namespace
}  // namespace zcrecv::test
