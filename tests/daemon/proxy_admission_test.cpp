// The daemon behind a proxy, in-process (two workers, so also under ThreadSanitizer): PROXY
// headers read on the workers' loops, the client they name as the connection's peer, and every
// way a header can fail to come.

#include "daemon/proxy_admission.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "daemon/daemon_harness.hpp"
#include "support/files.hpp"
#include "support/proxy_headers.hpp"
#include "support/random_bytes.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::daemon {
namespace {

using namespace std::chrono_literals;
using harness::RunningDaemon;
using test::TempDir;

config::ListenerConfig proxied(config::ListenerConfig listener,
                               std::vector<std::string> proxy_from = {"127.0.0.1/32"}) {
  listener.proxy_protocol = true;
  for (std::string& cidr : proxy_from) {
    listener.proxy_from.push_back(*config::make_cidr(cidr, config::Origin{"test"}));
  }
  return listener;
}

std::vector<std::byte> with_header(const std::string& header, const std::vector<std::byte>& data) {
  std::vector<std::byte> all(test::bytes_of(header).begin(), test::bytes_of(header).end());
  all.insert(all.end(), data.begin(), data.end());
  return all;
}

// Sends `header` one byte at a time, each in a segment of its own, a millisecond apart: the
// daemon sees it arrive in pieces (the pause paces the sender; nothing waits on it).
void send_slowly(int fd, const std::string& header) {
  const int on = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  for (char c : header) {
    harness::send_all(fd, test::bytes_of(std::string(1, c)));
    std::this_thread::sleep_for(1ms);
  }
}

// The files under `out`, by name, with their bytes.
std::map<std::string, std::vector<std::byte>> files_in(const std::filesystem::path& out) {
  std::map<std::string, std::vector<std::byte>> files;
  if (!std::filesystem::exists(out)) {
    return files;
  }
  for (const std::string& name : test::list_files(out)) {
    files.emplace(name, test::read_file(out / name));
  }
  return files;
}

// The one file whose name starts with `prefix`; fails the test unless there is exactly one.
std::vector<std::byte> only_file(const std::map<std::string, std::vector<std::byte>>& files,
                                 const std::string& prefix) {
  std::vector<std::byte> found;
  int count = 0;
  for (const auto& [name, bytes] : files) {
    if (name.starts_with(prefix)) {
      found = bytes;
      ++count;
    }
  }
  INFO("files starting with ", prefix);
  CHECK(count == 1);
  return found;
}

TEST_CASE("daemon behind a proxy: v1 and v2, TCP and Unix, whole or a byte at a time") {
  TempDir dir;
  config::ListenerConfig unix_socket = harness::unix_listener("unix", dir / "in.sock");
  config::Config config = harness::test_config(
      dir, {proxied(harness::tcp_listener("tcp")), proxied(unix_socket, {})});
  config.output.name.value = "{listener}/{peer}-{conn}-{seq}.bin";
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  const auto addresses = daemon.addresses();

  struct Stream {
    int listener;
    std::string header;
    std::size_t size;
    bool slowly;
    std::string name;
  };
  const std::vector<Stream> streams{
      {0, test::proxy_v1("203.0.113.7", "10.0.0.1", 51000, 9000), 100'000, false,
       "tcp/203.0.113.7_51000-"},
      {0, test::proxy_v2("2001:db8::7", "2001:db8::1", 443, 9000), 1 << 20, false,
       "tcp/v6-20010db8000000000000000000000007_443-"},
      {0, test::proxy_v2("203.0.113.8", "10.0.0.1", 2, 9000), 70'000, true, "tcp/203.0.113.8_2-"},
      {0, test::proxy_v1("203.0.113.9", "10.0.0.1", 3, 9000), 5, true, "tcp/203.0.113.9_3-"},
      {1, test::proxy_v2("198.51.100.9", "10.0.0.1", 7, 9000), 65'536, true,
       "unix/198.51.100.9_7-"},
      {1, test::proxy_v1("198.51.100.10", "10.0.0.1", 8, 9000), 1000, false,
       "unix/198.51.100.10_8-"},
  };
  std::vector<std::vector<std::byte>> payloads;
  std::vector<std::thread> senders;
  for (std::size_t i = 0; i < streams.size(); ++i) {
    payloads.push_back(test::random_bytes(streams[i].size, 300 + i));
  }
  for (std::size_t i = 0; i < streams.size(); ++i) {
    senders.emplace_back([&, i] {
      const Stream& stream = streams[i];
      sys::UniqueFd socket = test::connect_blocking(addresses[stream.listener]);
      if (stream.slowly) {
        send_slowly(socket.get(), stream.header);
        harness::send_all(socket.get(), payloads[i]);
      } else {
        harness::send_all(socket.get(), with_header(stream.header, payloads[i]));
      }
      REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
      REQUIRE(harness::wait_closed(socket.get()));
    });
  }
  for (std::thread& sender : senders) {
    sender.join();
  }
  REQUIRE(daemon.stop() == 0);

  const auto files = files_in(dir / "out");
  CHECK(files.size() == streams.size());
  for (std::size_t i = 0; i < streams.size(); ++i) {
    CHECK(only_file(files, streams[i].name) == payloads[i]);
  }
}

TEST_CASE("daemon behind a proxy: the proxy's own connections leave no empty file") {
  TempDir dir;
  config::Config config = harness::test_config(dir, {proxied(harness::tcp_listener("tcp"))});
  config.output.name.value = "{peer}-{client_cn}-{conn}-{seq}.bin";
  // Even so: a health check every second must not leave a file every second.
  config.output.keep_empty = true;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  const auto address = daemon.addresses()[0];

  for (int check = 0; check < 3; ++check) {
    harness::send_stream(address, test::bytes_of(test::proxy_v2_local()));
  }
  // HAProxy's v1 health check: a header naming the check connection itself, then a reset.
  {
    sys::UniqueFd check = test::connect_blocking(address);
    auto self = net::SocketAddress::local_of(check.get());
    REQUIRE(self.ok());
    harness::send_all(check.get(), test::bytes_of(test::proxy_v1("127.0.0.1", "127.0.0.1",
                                                                 self->port(), address.port())));
    const linger abort{1, 0};
    REQUIRE(::setsockopt(check.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort) == 0);
  }
  const auto data = test::random_bytes(3000, 17);
  harness::send_stream(address, with_header(test::proxy_v2_local(), data));
  // A client's empty stream is a stream: keep_empty keeps it.
  harness::send_stream(address,
                       test::bytes_of(test::proxy_v2("203.0.113.1", "10.0.0.1", 9, 9000,
                                                     test::proxy_ssl_tlv("ingest-7", true))));
  REQUIRE(daemon.stop() == 0);

  const auto files = files_in(dir / "out");
  CHECK(files.size() == 2);
  CHECK(only_file(files, "127.0.0.1_") == data);
  CHECK(only_file(files, "203.0.113.1_9-ingest-7-").empty());
}

TEST_CASE("daemon behind a proxy: refused with no file, and the daemon serves on") {
  TempDir dir;
  config::ListenerConfig open = proxied(harness::tcp_listener("open"));
  open.allow = harness::cidrs({"203.0.113.0/24"});
  open.proxy_timeout = 300ms;
  config::ListenerConfig elsewhere = proxied(harness::tcp_listener("elsewhere"), {"127.0.0.2/32"});
  config::Config config = harness::test_config(dir, {open, elsewhere});
  config.output.name.value = "{listener}-{peer}-{conn}-{seq}.bin";
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  const auto addresses = daemon.addresses();
  const std::string good = test::proxy_v2("203.0.113.7", "10.0.0.1", 51000, 9000);
  const auto data = test::random_bytes(5000, 23);

  SUBCASE("from outside proxy_from") {
    sys::UniqueFd socket = test::connect_blocking(addresses[1]);
    harness::send_all(socket.get(), with_header(good, data));
    CHECK(harness::wait_closed(socket.get()));
  }
  SUBCASE("not a PROXY header") {
    sys::UniqueFd socket = test::connect_blocking(addresses[0]);
    harness::send_all(socket.get(), with_header("GET / HTTP/1.0\r\n\r\n", data));
    CHECK(harness::wait_closed(socket.get()));
  }
  SUBCASE("a header that never completes, cut at proxy_timeout") {
    sys::UniqueFd socket = test::connect_blocking(addresses[0]);
    harness::send_all(socket.get(), test::bytes_of(good.substr(0, 20)));
    const auto start = std::chrono::steady_clock::now();
    CHECK(harness::wait_closed(socket.get()));
    CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  }
  SUBCASE("a peer that sends nothing and keeps the connection open, cut at proxy_timeout") {
    sys::UniqueFd socket = test::connect_blocking(addresses[0]);
    CHECK(harness::wait_closed(socket.get()));
  }
  SUBCASE("a peer that ends the stream inside the header") {
    sys::UniqueFd socket = test::connect_blocking(addresses[0]);
    harness::send_all(socket.get(), test::bytes_of(good.substr(0, 13)));
    REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
    CHECK(harness::wait_closed(socket.get()));
  }
  SUBCASE("a client outside the allow list") {
    sys::UniqueFd socket = test::connect_blocking(addresses[0]);
    harness::send_all(socket.get(),
                      with_header(test::proxy_v1("198.51.100.1", "10.0.0.1", 1, 9000), data));
    CHECK(harness::wait_closed(socket.get()));
  }
  SUBCASE("a client outside the allow list, its header a byte at a time") {
    sys::UniqueFd socket = test::connect_blocking(addresses[0]);
    send_slowly(socket.get(), test::proxy_v1("198.51.100.2", "10.0.0.1", 2, 9000));
    harness::send_all(socket.get(), data);
    CHECK(harness::wait_closed(socket.get()));
  }
  CHECK(files_in(dir / "out").empty());

  harness::send_stream(addresses[0], with_header(good, data));
  REQUIRE(daemon.stop() == 0);
  const auto files = files_in(dir / "out");
  CHECK(files.size() == 1);
  CHECK(only_file(files, "open-203.0.113.7_51000-") == data);
}

TEST_CASE("daemon behind a proxy: max_connections_per_peer counts the clients, not the proxy") {
  TempDir dir;
  config::Config config = harness::test_config(dir, {proxied(harness::tcp_listener("tcp"))});
  config.output.name.value = "{peer}-{conn}-{seq}.bin";
  config.limits.max_connections_per_peer = 1;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  const auto address = daemon.addresses()[0];
  harness::DirectoryWatch out(dir / "out");

  // Client A's first connection stays open, its first bytes written: it holds A's one place.
  sys::UniqueFd first = test::connect_blocking(address);
  harness::send_all(first.get(), with_header(test::proxy_v2("192.0.2.1", "10.0.0.1", 1, 9000),
                                             test::random_bytes(10, 1)));
  REQUIRE(out.wait_for_partial_file(10));

  // Its second one is refused after its header, which comes slowly: the socket the handshake
  // watched leaves the loop with it.
  sys::UniqueFd second = test::connect_blocking(address);
  send_slowly(second.get(), test::proxy_v2("192.0.2.1", "10.0.0.1", 2, 9000));
  harness::send_all(second.get(), test::random_bytes(10, 2));
  CHECK(harness::wait_closed(second.get()));

  const auto other = test::random_bytes(700, 3);
  harness::send_stream(address,
                       with_header(test::proxy_v2("192.0.2.2", "10.0.0.1", 3, 9000), other));
  REQUIRE(sys::shutdown(first.get(), SHUT_WR).ok());
  REQUIRE(harness::wait_closed(first.get()));
  REQUIRE(daemon.stop() == 0);

  const auto files = files_in(dir / "out");
  CHECK(files.size() == 2);
  CHECK(only_file(files, "192.0.2.1_1-") == test::random_bytes(10, 1));
  CHECK(only_file(files, "192.0.2.2_3-") == other);
}

TEST_CASE("daemon behind a proxy: a stop cuts a connection still waiting for its header") {
  TempDir dir;
  config::ListenerConfig listener = proxied(harness::tcp_listener("tcp"));
  listener.proxy_timeout = 10min;
  config::Config config = harness::test_config(dir, {listener});
  config.limits.shutdown_timeout = 100ms;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());

  sys::UniqueFd waiting = test::connect_blocking(daemon.addresses()[0]);
  harness::send_all(waiting.get(), test::bytes_of(std::string("PROXY TCP4 ")));
  // Accepted now or at the stop (a stopping worker takes in what is queued): either way it
  // waits for its header until shutdown_timeout cuts it.
  CHECK(daemon.stop() == 0);
  CHECK(harness::wait_closed(waiting.get()));
  CHECK(files_in(dir / "out").empty());
}

}  // namespace
}  // namespace zcrecv::daemon
