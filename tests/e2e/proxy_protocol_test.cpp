// The real zcrecv binary behind a PROXY protocol sender played by the test itself: connections
// from outside proxy_from, headers that come a byte at a time, never complete or are invalid,
// and a proxy's LOCAL health check; after each the daemon serves on, byte-exact.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/process.hpp"
#include "support/proxy_headers.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The daemon behind a proxy on 127.0.0.1: four TCP listeners with the same settings, a 500 ms
// header timeout, files named {listener}/{peer}-{conn}-{seq}.bin under dir/out. Rejections are
// logged at most once a second per listener, so each kind of failure gets a listener of its
// own: "proxied" for the streams, "strangers", "slow" and "garbled" for the failures.
class ProxiedDaemon {
 public:
  static constexpr const char* kListeners[] = {"proxied", "strangers", "slow", "garbled"};

  explicit ProxiedDaemon(const TempDir& dir) : out_(dir / "out"), process_(args(dir)) {
    for (const char* name : kListeners) {
      addresses_.push_back(
          listening_address(process_.wait_for_stderr("(" + std::string(name) + ")")));
    }
  }

  Process& process() { return process_; }
  [[nodiscard]] const fs::path& out() const { return out_; }
  /// The address of listener kListeners[index].
  [[nodiscard]] const net::SocketAddress& address(std::size_t index = 0) const {
    return addresses_.at(index);
  }
  // Waits for the daemon's end line of the connection from `client` (its display).
  std::string ended(const std::string& client) {
    return process_.wait_for_stderr(" from " + client + " via 127.0.0.1:");
  }

 private:
  std::vector<std::string> args(const TempDir& dir) const {
    const fs::path config = dir / "zcrecv.toml";
    std::ofstream file(config);
    for (const char* name : kListeners) {
      file << "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"" << name << "\"\n"
           << "proxy_protocol = true\nproxy_from = [\"127.0.0.1/32\"]\n"
           << "proxy_timeout = \"500ms\"\n\n";
    }
    file << "[output]\ndirectory = \"" << out_.string() << "\"\n"
         << "name = \"{listener}/{peer}-{conn}-{seq}.bin\"\nsync = \"none\"\n";
    return {zcrecv_binary(), "-c", config.string(), "--workers", "2"};
  }

  fs::path out_;
  Process process_;
  std::vector<net::SocketAddress> addresses_;
};

std::vector<std::byte> with_header(const std::string& header, const std::vector<std::byte>& data) {
  std::vector<std::byte> all(bytes_of(header).begin(), bytes_of(header).end());
  all.insert(all.end(), data.begin(), data.end());
  return all;
}

// A client of the proxy: its stream, header first, stored under {peer} = `client_ip`_`port`.
struct Client {
  std::string ip;
  std::uint16_t port;
  std::vector<std::byte> data;

  [[nodiscard]] std::string header() const {
    return proxy_v2(ip.c_str(), "10.0.0.1", port, 9000);
  }
  [[nodiscard]] std::string display() const { return ip + ":" + std::to_string(port); }
};

// Sends `client`'s stream through a well-behaved proxy and waits for the daemon's end line.
void send_through_proxy(ProxiedDaemon& daemon, const Client& client) {
  const auto bytes = with_header(client.header(), client.data);
  Sender sender(connect_blocking(daemon.address()), bytes);
  CHECK(sender.join().empty());
  CHECK(daemon.ended(client.display()).find(" 1 files, ") != std::string::npos);
}

TEST_CASE("PROXY protocol e2e: refused, cut and invalid headers leave no file, the daemon serves on") {
  TempDir dir;
  ProxiedDaemon daemon(dir);
  std::vector<Client> served;
  auto serve_one = [&] {
    const auto n = static_cast<std::uint16_t>(served.size() + 1);
    served.push_back(Client{"203.0.113." + std::to_string(n), n, random_bytes(70'000 + n, n)});
    send_through_proxy(daemon, served.back());
  };
  serve_one();

  {
    INFO("a direct connection from outside proxy_from");
    sys::UniqueFd stranger = connect_from("127.0.0.3", daemon.address(1));
    write_all(stranger, bytes_of(served.front().header()));
    CHECK(closed_by_peer(stranger));
    CHECK(daemon.process().wait_for_stderr("listener strangers: rejected 127.0.0.3:").find(
              ": address not in proxy_from") != std::string::npos);
    serve_one();
  }
  {
    INFO("a header sent a byte at a time");
    const Client slow{"198.51.100.77", 4242, random_bytes(100'000, 77)};
    sys::UniqueFd socket = connect_blocking(daemon.address());
    const int on = 1;
    REQUIRE(::setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0);
    for (char c : slow.header()) {
      write_all(socket, bytes_of(std::string(1, c)));
      // Paces the bytes so that they arrive apart; nothing waits on it.
      std::this_thread::sleep_for(2ms);
    }
    Sender sender(std::move(socket), slow.data);
    CHECK(sender.join().empty());
    daemon.ended(slow.display());
    served.push_back(slow);
  }
  {
    INFO("a header that never completes");
    sys::UniqueFd socket = connect_blocking(daemon.address(2));
    write_all(socket, bytes_of(served.front().header().substr(0, 10)));
    const auto start = std::chrono::steady_clock::now();
    CHECK(closed_by_peer(socket));
    CHECK(std::chrono::steady_clock::now() - start >= 400ms);
    CHECK(daemon.process()
              .wait_for_stderr("listener slow: rejected 127.0.0.1:")
              .find(": no complete PROXY header within proxy_timeout (500ms), 10 bytes of one "
                    "arrived") !=
          std::string::npos);
    serve_one();
  }
  {
    INFO("an invalid header: a CRC32C that does not match");
    const std::string bad_crc = proxy_v2("203.0.113.99", "10.0.0.1", 1, 9000,
                                         std::string("\x03\x00\x04\x00\x00\x00\x00", 7));
    sys::UniqueFd socket = connect_blocking(daemon.address(3));
    write_all(socket, bytes_of(bad_crc + "payload"));
    CHECK(closed_by_peer(socket));
    CHECK(daemon.process()
              .wait_for_stderr("listener garbled: rejected 127.0.0.1:")
              .find(": PROXY v2: CRC32C mismatch: the header says 0x00000000, its bytes give ") !=
          std::string::npos);
    serve_one();
  }
  {
    INFO("a proxy's health check: a LOCAL header, nothing else");
    sys::UniqueFd check = connect_blocking(daemon.address());
    write_all(check, bytes_of(proxy_v2_local()));
    ::shutdown(check.get(), SHUT_WR);
    CHECK(closed_by_peer(check));
    serve_one();
  }

  daemon.process().signal(SIGUSR2);
  const std::string statistics = daemon.process().wait_for_stderr("statistics: ");
  CHECK(statistics.find(" rejected=3,") != std::string::npos);
  CHECK(statistics.find("proxy header failures not_allowed=1 timeout=1 invalid=1") !=
        std::string::npos);
  daemon.process().signal(SIGTERM);
  CHECK(daemon.process().wait() == 0);
  // The health check left neither a file nor a line at info level.
  CHECK(daemon.process().stderr_text().find("own connection") == std::string::npos);

  const auto files = list_files(daemon.out());
  REQUIRE(files.size() == served.size());
  for (const Client& client : served) {
    INFO("client ", client.display());
    const std::string prefix =
        "proxied/" + client.ip + "_" + std::to_string(client.port) + "-";
    auto file = std::find_if(files.begin(), files.end(),
                             [&](const std::string& name) { return name.starts_with(prefix); });
    REQUIRE(file != files.end());
    CHECK(read_file(daemon.out() / *file) == client.data);
  }
}

TEST_CASE("PROXY protocol e2e: --once refuses a listener with proxy_protocol") {
  TempDir dir;
  const fs::path config = dir / "zcrecv.toml";
  std::ofstream(config) << "[[listen]]\naddress = \"127.0.0.1:0\"\nproxy_protocol = true\n"
                        << "proxy_from = [\"127.0.0.1/32\"]\n";
  Process once({zcrecv_binary(), "--once", "-c", config.string(), "-o", (dir / "x").string()});
  CHECK(once.wait(10s) == 2);
  CHECK(once.stderr_text().find("--once: proxy_protocol") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "x"));
}

}  // namespace
}  // namespace zcrecv::test
