#include "net/proxy_receive.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <string>

#include "support/poll_until.hpp"
#include "support/proxy_headers.hpp"
#include "support/socket_pair.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::net {
namespace {

using test::bytes_of;

void send_text(const sys::UniqueFd& socket, const std::string& text) {
  auto sent = sys::send(socket.get(), bytes_of(text), MSG_NOSIGNAL);
  REQUIRE(sent.ok());
  REQUIRE(sent->value_or(0) == text.size());
}

// Waits until `socket` has something to read (or its end); loopback delivers within
// microseconds, the timeout only keeps a broken test from hanging.
void wait_readable(const sys::UniqueFd& socket) {
  pollfd entry{socket.get(), POLLIN, 0};
  auto ready = sys::poll(std::span(&entry, 1), 10'000);
  REQUIRE(ready.ok());
  REQUIRE(*ready == 1);
}

// What receive_proxy_header makes of `socket` once `waiting` bytes have arrived (the peeked
// bytes keep the socket readable, so nothing announces the next ones).
ProxyReceive receive_after(const sys::UniqueFd& socket, std::size_t waiting) {
  ProxyReceive received;
  std::string failure;
  test::poll_until(
      [&] {
        auto got = receive_proxy_header(socket.get());
        if (!got) {
          failure = got.error().message();
          return true;
        }
        received = std::move(*got);
        return received.header || received.waiting >= waiting;
      },
      std::to_string(waiting) + " bytes arrived");
  REQUIRE_MESSAGE(failure.empty(), failure);
  return received;
}

// Everything left in `socket` until its end of stream.
std::string rest_of(const sys::UniqueFd& socket) {
  std::string text;
  std::array<std::byte, 4096> buffer{};
  for (;;) {
    wait_readable(socket);
    auto got = sys::recv(socket.get(), buffer, 0);
    REQUIRE(got.ok());
    if (!got->has_value()) {
      continue;
    }
    if (**got == 0) {
      return text;
    }
    text.append(reinterpret_cast<const char*>(buffer.data()), **got);
  }
}

TEST_CASE("receive_proxy_header: nothing yet, then a v2 header whose payload stays in the socket") {
  for (auto make : {test::make_tcp_pair, test::make_unix_pair}) {
    test::SocketPair pair = make();
    auto nothing = receive_proxy_header(pair.receiver.get());
    REQUIRE(nothing.ok());
    CHECK_FALSE(nothing->header);
    CHECK(nothing->waiting == 0);
    CHECK_FALSE(nothing->ended);

    const std::string header = test::proxy_v2("203.0.113.7", "198.51.100.1", 51000, 9000);
    send_text(pair.sender, header + "payload, not header");
    REQUIRE(sys::shutdown(pair.sender.get(), SHUT_WR).ok());
    ProxyReceive received = receive_after(pair.receiver, header.size());
    REQUIRE(received.header);
    CHECK(received.header->length == header.size());
    REQUIRE(received.header->source);
    CHECK(received.header->source->to_string() == "203.0.113.7:51000");
    CHECK(rest_of(pair.receiver) == "payload, not header");
  }
}

TEST_CASE("receive_proxy_header: a v1 header a byte at a time waits, then is consumed exactly") {
  test::SocketPair pair = test::make_tcp_pair();
  // Each byte its own segment, at once: Nagle would hold it back until the last one is acked.
  const int on = 1;
  REQUIRE(::setsockopt(pair.sender.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0);
  const std::string header = test::proxy_v1("192.0.2.1", "192.0.2.2", 1234, 80);
  for (std::size_t sent = 1; sent < header.size(); ++sent) {
    send_text(pair.sender, header.substr(sent - 1, 1));
    ProxyReceive waiting = receive_after(pair.receiver, sent);
    CHECK_FALSE(waiting.header);
    CHECK(waiting.waiting == sent);
  }
  send_text(pair.sender, header.substr(header.size() - 1) + "x");
  REQUIRE(sys::shutdown(pair.sender.get(), SHUT_WR).ok());
  ProxyReceive received = receive_after(pair.receiver, header.size());
  REQUIRE(received.header);
  CHECK(received.header->version == 1);
  CHECK(received.header->source->to_string() == "192.0.2.1:1234");
  CHECK(rest_of(pair.receiver) == "x");
}

TEST_CASE("receive_proxy_header: a LOCAL header with nothing after it, as a health check sends") {
  test::SocketPair pair = test::make_unix_pair();
  send_text(pair.sender, test::proxy_v2_local());
  pair.sender.reset();
  ProxyReceive received = receive_after(pair.receiver, 16);
  REQUIRE(received.header);
  CHECK(received.header->local);
  CHECK(rest_of(pair.receiver).empty());
}

TEST_CASE("receive_proxy_header: bytes that are no header are refused and stay in the socket") {
  test::SocketPair pair = test::make_tcp_pair();
  send_text(pair.sender, "GET / HTTP/1.1\r\n");
  wait_readable(pair.receiver);
  auto received = receive_proxy_header(pair.receiver.get());
  REQUIRE_FALSE(received.ok());
  CHECK(received.error().errno_value() == 0);
  CHECK(received.error().message().starts_with("not a PROXY protocol header (starts with \"G\""));
  std::array<std::byte, 64> peeked{};
  auto kept = sys::recv(pair.receiver.get(), peeked, MSG_PEEK);
  REQUIRE(kept.ok());
  CHECK(kept->value_or(0) == 16);
}

TEST_CASE("receive_proxy_header: a peer that leaves before any byte: ended, or recv's error") {
  test::SocketPair closed = test::make_tcp_pair();
  REQUIRE(sys::shutdown(closed.sender.get(), SHUT_WR).ok());
  wait_readable(closed.receiver);
  auto ended = receive_proxy_header(closed.receiver.get());
  REQUIRE(ended.ok());
  CHECK(ended->ended);
  CHECK_FALSE(ended->header);

  test::SocketPair reset = test::make_tcp_pair();
  const linger abort{1, 0};
  REQUIRE(::setsockopt(reset.sender.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort) == 0);
  reset.sender.reset();
  wait_readable(reset.receiver);
  auto failed = receive_proxy_header(reset.receiver.get());
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().errno_value() == ECONNRESET);
  CHECK(failed.error().message().starts_with("recv"));
}

}  // namespace
}  // namespace zcrecv::net
