// net::ProxyHandshake on a loop of its own, with an owner that writes down what it is told: the
// header's client handed over (watched or not), or how the handshake ended, before the close.
// tests/daemon/proxy_admission_test.cpp runs the same handshakes inside the daemon.

#include "net/proxy_handshake.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "support/loop_thread.hpp"
#include "support/proxy_headers.hpp"
#include "support/socket_pair.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::net {
namespace {

using namespace std::chrono_literals;
using test::bytes_of;

std::string name_of(ProxyHandshakeEnd end) {
  switch (end) {
    case ProxyHandshakeEnd::kQuiet:
      return "quiet";
    case ProxyHandshakeEnd::kCut:
      return "cut";
    case ProxyHandshakeEnd::kInvalid:
      return "invalid";
    case ProxyHandshakeEnd::kTimedOut:
      return "timed out";
    case ProxyHandshakeEnd::kUnknownClient:
      return "unknown client";
  }
  return "?";
}

// Writes down each call as a line. A socket handed over leaves the loop's set, and what has
// already arrived after the header is read from it, before it is closed: the close is what the
// test's end of the connection waits for.
class RecordingOwner final : public ProxyHandshakeOwner {
 public:
  explicit RecordingOwner(event::EventLoop& loop) : loop_(loop) {}

  void proxied(sys::UniqueFd socket, PeerIdentity client, const ProxyHeader& /*header*/,
               bool watched) override {
    if (watched) {
      CHECK(loop_.remove(socket.get()).ok());
    }
    std::array<std::byte, 256> buffer{};
    auto got = sys::recv(socket.get(), buffer, MSG_DONTWAIT);
    std::string after(reinterpret_cast<const char*>(buffer.data()),
                      got.ok() ? got->value_or(0) : 0);
    calls.push_back("proxied " + client.display + (client.proxy_itself ? " (itself)" : "") +
                    (watched ? " watched" : "") + ", then \"" + after + "\"");
  }
  void proxy_ended(ProxyHandshakeEnd end, const std::string& detail) override {
    calls.push_back("ended " + name_of(end) + (detail.empty() ? "" : ": " + detail));
  }
  void handshake_finished() override { calls.push_back("finished"); }

  std::vector<std::string> calls;

 private:
  event::EventLoop& loop_;
};

struct Fixture {
  test::LoopThread loop;
  test::SocketPair pair = test::make_tcp_pair();
  RecordingOwner owner{loop.loop()};
  std::unique_ptr<ProxyHandshake> handshake;

  ~Fixture() {
    loop.call([&] { handshake.reset(); });
  }

  void send(const std::string& text) {
    auto sent = sys::send(pair.sender.get(), bytes_of(text), MSG_NOSIGNAL);
    REQUIRE(sent.ok());
    REQUIRE(sent->value_or(0) == text.size());
  }

  // Makes the handshake on the loop and reads what has come, as the worker does after accept;
  // waits in the loop if that was not all. True if the handshake ended there.
  bool start(ProxyHandshakeSettings settings) {
    auto proxy_address = SocketAddress::peer_of(pair.receiver.get());
    REQUIRE(proxy_address.ok());
    PeerIdentity proxy = identify_peer(pair.receiver.get(), *proxy_address);
    bool over = false;
    loop.call([&] {
      handshake = std::make_unique<ProxyHandshake>(
          loop.loop(), owner, settings, std::move(pair.receiver), *proxy_address, std::move(proxy));
      over = handshake->advance();
      if (!over) {
        REQUIRE(handshake->wait().ok());
      }
    });
    return over;
  }

  // Waits until the handshake's side of the connection is closed (end of stream or reset).
  void wait_closed() {
    pollfd entry{pair.sender.get(), POLLIN, 0};
    auto ready = sys::poll(std::span(&entry, 1), 30'000);
    REQUIRE(ready.ok());
    REQUIRE(*ready == 1);
    std::byte byte{};
    auto got = sys::read(pair.sender.get(), std::span(&byte, 1));
    REQUIRE((!got || got->value_or(1) == 0));
  }

  std::vector<std::string> calls() {
    std::vector<std::string> calls;
    loop.call([&] { calls = owner.calls; });
    return calls;
  }
};

const ProxyHandshakeSettings kSettings{.listener = "test", .timeout = 30s};

TEST_CASE("proxy handshake: a header already there is handed over at once, its payload left") {
  Fixture fixture;
  fixture.send(test::proxy_v2("203.0.113.7", "10.0.0.1", 51000, 9000) + "payload");
  CHECK(fixture.start(kSettings));
  CHECK(fixture.calls() == std::vector<std::string>{"proxied 203.0.113.7:51000, then \"payload\""});
}

TEST_CASE("proxy handshake: a header in pieces is waited for, then handed over still watched") {
  Fixture fixture;
  const int on = 1;
  REQUIRE(::setsockopt(fixture.pair.sender.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0);
  const std::string header = test::proxy_v1("203.0.113.8", "10.0.0.1", 2, 9000);
  fixture.send(header.substr(0, 10));
  CHECK_FALSE(fixture.start(kSettings));
  fixture.send(header.substr(10));
  fixture.wait_closed();
  const auto calls = fixture.calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].starts_with("proxied 203.0.113.8:2 watched, then "));
  CHECK(calls[1] == "finished");
}

TEST_CASE("proxy handshake: bytes that are no PROXY header end it as invalid, before the close") {
  Fixture fixture;
  fixture.send("GET / HTTP/1.0\r\n\r\n");
  CHECK(fixture.start(kSettings));
  fixture.wait_closed();
  const auto calls = fixture.calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].starts_with("ended invalid: "));
}

TEST_CASE("proxy handshake: a peer that ends inside the header ends it as invalid") {
  Fixture fixture;
  fixture.send(test::proxy_v2("203.0.113.7", "10.0.0.1", 51000, 9000).substr(0, 13));
  REQUIRE(sys::shutdown(fixture.pair.sender.get(), SHUT_WR).ok());
  (void)fixture.start(kSettings);
  fixture.wait_closed();
  const auto calls = fixture.calls();
  REQUIRE(!calls.empty());
  CHECK(calls[0] ==
        "ended invalid: the peer closed the connection after 13 bytes of a PROXY header");
}

TEST_CASE("proxy handshake: an incomplete header times out, and how much of it came is known") {
  Fixture fixture;
  fixture.send(test::proxy_v2("203.0.113.7", "10.0.0.1", 51000, 9000).substr(0, 20));
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(fixture.start({.listener = "test", .timeout = 200ms}));
  fixture.wait_closed();
  CHECK(std::chrono::steady_clock::now() - start >= 150ms);
  CHECK(fixture.calls() == std::vector<std::string>{"ended timed out", "finished"});
  std::size_t waiting = 0;
  fixture.loop.call([&] { waiting = fixture.handshake->waiting(); });
  CHECK(waiting == 20);
}

TEST_CASE("proxy handshake: a header that names no client, where such a client is refused") {
  Fixture fixture;
  const ProxyHandshakeSettings refusing{
      .listener = "test", .timeout = 30s, .refuse_unknown_client = true};

  SUBCASE("data follows: refused") {
    fixture.send(test::proxy_v2_local() + "data");
    (void)fixture.start(refusing);
    fixture.wait_closed();
    const auto calls = fixture.calls();
    REQUIRE(!calls.empty());
    CHECK(calls[0] == "ended unknown client");
  }
  SUBCASE("the end follows: a health check, quiet") {
    fixture.send(test::proxy_v2_local());
    REQUIRE(sys::shutdown(fixture.pair.sender.get(), SHUT_WR).ok());
    (void)fixture.start(refusing);
    fixture.wait_closed();
    const auto calls = fixture.calls();
    REQUIRE(!calls.empty());
    CHECK(calls[0] == "ended quiet");
  }
  SUBCASE("not refused: handed over as the proxy's own") {
    fixture.send(test::proxy_v2_local() + "data");
    CHECK(fixture.start(kSettings));
    const auto calls = fixture.calls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].starts_with("proxied 127.0.0.1:"));
    CHECK(calls[0].ends_with(" (itself), then \"data\""));
  }
}

TEST_CASE("proxy handshake: a cut ends it with its reason, once") {
  Fixture fixture;
  fixture.send("PROXY TCP4 ");
  CHECK_FALSE(fixture.start(kSettings));
  fixture.loop.call([&] {
    fixture.handshake->cut("shutdown_timeout passed");
    fixture.handshake->cut("again");
  });
  fixture.wait_closed();
  CHECK(fixture.calls() ==
        std::vector<std::string>{"ended cut: shutdown_timeout passed", "finished"});
}

}  // namespace
}  // namespace zcrecv::net
