#include "net/peer_identity.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "support/loopback.hpp"
#include "support/proxy_headers.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::net {
namespace {

using test::ip;

// The header `bytes` hold; fails the test if they do not hold a complete, valid one.
ProxyHeader header_of(const std::string& bytes) {
  auto parsed = parse_proxy_header(test::bytes_of(bytes));
  REQUIRE_MESSAGE(parsed.ok(), parsed.error().message());
  REQUIRE(parsed->has_value());
  return **parsed;
}

// A proxy on 127.0.0.1, the socket's peer.
SocketAddress proxy_address() { return ip("127.0.0.1", 40112); }

// The connection's peer once its PROXY header `bytes` are in.
PeerIdentity proxied(const std::string& bytes) {
  return identify_proxied_peer(header_of(bytes), proxy_address(),
                               identify_peer(-1, proxy_address()));
}

bool safe_for_file_names(const std::string& token) {
  return token.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
             "0123456789._-") == std::string::npos;
}

TEST_CASE("an IPv4 peer: file token, display and key") {
  PeerIdentity peer = identify_peer(-1, ip("10.0.0.5", 51234));
  CHECK(peer.file_token == "10.0.0.5_51234");
  CHECK(peer.display == "10.0.0.5:51234");
  CHECK(peer.key == "10.0.0.5");
  CHECK_FALSE(peer.credentials.has_value());
}

TEST_CASE("an IPv4-mapped peer of a dual-stack listener is described as IPv4") {
  PeerIdentity peer = identify_peer(-1, ip("::ffff:10.0.0.5", 51234));
  CHECK(peer.file_token == "10.0.0.5_51234");
  CHECK(peer.display == "10.0.0.5:51234");
  CHECK(peer.key == "10.0.0.5");
}

TEST_CASE("an IPv6 peer: every hex digit in the token, brackets in the display") {
  PeerIdentity loopback = identify_peer(-1, ip("::1", 443));
  CHECK(loopback.file_token == "v6-00000000000000000000000000000001_443");
  CHECK(loopback.display == "[::1]:443");
  CHECK(loopback.key == "::1");

  PeerIdentity documentation = identify_peer(-1, ip("2001:db8::a:b", 8080));
  CHECK(documentation.file_token == "v6-20010db80000000000000000000a000b_8080");
  CHECK(documentation.display == "[2001:db8::a:b]:8080");
  CHECK(documentation.key == "2001:db8::a:b");
  CHECK(safe_for_file_names(documentation.file_token));
  CHECK(safe_for_file_names(identify_peer(-1, ip("::ffff:1.2.3.4", 1)).file_token));
}

TEST_CASE("a Unix peer is identified by SO_PEERCRED: this process's uid and pid") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  sys::UniqueFd a(fds[0]);
  sys::UniqueFd b(fds[1]);
  auto address = SocketAddress::peer_of(a.get());
  REQUIRE(address.ok());

  PeerIdentity peer = identify_peer(a.get(), *address);
  std::string uid = std::to_string(::getuid());
  std::string pid = std::to_string(::getpid());
  CHECK(peer.file_token == "unix-uid" + uid + "-pid" + pid);
  CHECK(peer.display == "unix uid=" + uid + " pid=" + pid);
  CHECK(peer.key == "uid:" + uid);
  REQUIRE(peer.credentials.has_value());
  CHECK(peer.credentials->uid == ::getuid());
  CHECK(peer.credentials->gid == ::getgid());
  CHECK(peer.credentials->pid == ::getpid());
  CHECK(safe_for_file_names(peer.file_token));
}

TEST_CASE("a Unix peer whose credentials cannot be read is unix-unknown") {
  auto pipe = sys::pipe2(O_CLOEXEC);
  REQUIRE(pipe.ok());
  PeerIdentity peer = identify_peer(pipe->read_end.get(), SocketAddress::unix_path("/x"));
  CHECK(peer.file_token == "unix-unknown");
  CHECK(peer.display == "unix (credentials unknown)");
  CHECK(peer.key == "uid:unknown");
  CHECK_FALSE(peer.credentials.has_value());
}

TEST_CASE("a direct peer came through nothing: no via, no client CN") {
  PeerIdentity peer = identify_peer(-1, ip("10.0.0.5", 51234));
  CHECK(peer.via.empty());
  CHECK(peer.client_cn.empty());
  CHECK_FALSE(peer.proxy_itself);
  CHECK(peer.described() == "10.0.0.5:51234");
}

TEST_CASE("through a proxy, the client the header names is the peer, reached via the proxy") {
  PeerIdentity v2 = proxied(test::proxy_v2("203.0.113.7", "10.0.0.1", 51000, 9000));
  CHECK(v2.file_token == "203.0.113.7_51000");
  CHECK(v2.display == "203.0.113.7:51000");
  CHECK(v2.key == "203.0.113.7");
  CHECK(v2.via == " via 127.0.0.1:40112");
  CHECK(v2.described() == "203.0.113.7:51000 via 127.0.0.1:40112");
  CHECK(v2.client_cn.empty());
  CHECK_FALSE(v2.credentials);
  CHECK_FALSE(v2.proxy_itself);

  PeerIdentity v1 = proxied(test::proxy_v1("2001:db8::7", "2001:db8::1", 443, 9000));
  CHECK(v1.file_token == "v6-20010db8000000000000000000000007_443");
  CHECK(v1.described() == "[2001:db8::7]:443 via 127.0.0.1:40112");
  CHECK(v1.key == "2001:db8::7");
}

TEST_CASE("a header that names no client, or the proxy itself, is the proxy's own connection") {
  for (const std::string& header : {test::proxy_v2_local(), std::string("PROXY UNKNOWN\r\n"),
                                    test::proxy_v1("127.0.0.1", "127.0.0.1", 40112, 9000),
                                    test::proxy_v2("::ffff:127.0.0.1", "::1", 40112, 9000)}) {
    PeerIdentity own = proxied(header);
    CHECK(own.proxy_itself);
    CHECK(own.file_token == "127.0.0.1_40112");
    CHECK(own.key == "127.0.0.1");
    CHECK(own.described() == "127.0.0.1:40112 (the proxy's own connection)");
  }
  // The proxy's address with another port is another connection: a client on the proxy's host.
  PeerIdentity neighbour = proxied(test::proxy_v1("127.0.0.1", "127.0.0.1", 40113, 9000));
  CHECK_FALSE(neighbour.proxy_itself);
  CHECK(neighbour.described() == "127.0.0.1:40113 via 127.0.0.1:40112");
}

TEST_CASE("a Unix client of the proxy is the proxy's, its address only in the log") {
  PeerIdentity unbound = proxied(test::proxy_v2_unix("", "/run/haproxy/in.sock"));
  CHECK(unbound.file_token == "unix-via-127.0.0.1_40112");
  CHECK(unbound.key == "unix-via:127.0.0.1");
  CHECK(unbound.described() == "unix:(unnamed) via 127.0.0.1:40112");
  CHECK(safe_for_file_names(unbound.file_token));

  PeerIdentity named = proxied(test::proxy_v2_unix("/tmp/c\x1b[2J.sock", "/run/in.sock"));
  CHECK(named.file_token == "unix-via-127.0.0.1_40112");
  CHECK(named.display == "\"unix:/tmp/c\\x1b[2J.sock\"");

  // Through a proxy on a Unix listener, the proxy's own token and key carry on.
  PeerIdentity local_proxy;
  local_proxy.file_token = "unix-uid0-pid42";
  local_proxy.display = "unix uid=0 pid=42";
  local_proxy.key = "uid:0";
  PeerIdentity nested =
      identify_proxied_peer(header_of(test::proxy_v2_unix("", "/x")),
                            SocketAddress::unix_path("/run/in.sock"), local_proxy);
  CHECK(nested.file_token == "unix-via-unix-uid0-pid42");
  CHECK(nested.key == "unix-via:uid:0");
  CHECK(nested.described() == "unix:(unnamed) via unix uid=0 pid=42");
}

TEST_CASE("an SSL TLV: the client certificate in the log, its CN for {client_cn} once verified") {
  auto with_ssl = [](const std::string& tlv) {
    return proxied(test::proxy_v2("203.0.113.7", "10.0.0.1", 51000, 9000, tlv));
  };
  PeerIdentity verified = with_ssl(test::proxy_ssl_tlv("alice", true));
  CHECK(verified.client_cn == "alice");
  CHECK(verified.client_certificate == PeerIdentity::Certificate::kVerified);
  CHECK(verified.described() ==
        "203.0.113.7:51000 via 127.0.0.1:40112 (TLS, client certificate CN \"alice\", verified)");

  PeerIdentity unverified = with_ssl(test::proxy_ssl_tlv("mallory", false));
  CHECK(unverified.client_cn.empty());
  CHECK(unverified.client_certificate == PeerIdentity::Certificate::kUnverified);
  CHECK(unverified.via ==
        " via 127.0.0.1:40112 (TLS, client certificate CN \"mallory\", NOT verified)");

  PeerIdentity anonymous = with_ssl(test::proxy_ssl_tlv("", true));
  CHECK(anonymous.client_cn.empty());
  CHECK(anonymous.client_certificate == PeerIdentity::Certificate::kNone);
  CHECK(anonymous.via == " via 127.0.0.1:40112 (TLS, no client certificate)");

  // The CN is the certificate's bytes: kept as they are for the name template to sanitise,
  // escaped in the log.
  PeerIdentity odd = with_ssl(test::proxy_ssl_tlv("a\nb/\"c\"", true));
  CHECK(odd.client_cn == "a\nb/\"c\"");
  CHECK(odd.via ==
        " via 127.0.0.1:40112 (TLS, client certificate CN \"a\\nb/\\\"c\\\"\", verified)");
}

TEST_CASE("a LOCAL header's SSL TLV names nobody: no certificate, no CN, nothing in the log") {
  using namespace test::proxy_wire;
  PeerIdentity local = proxied(v2(kLocal, kUnspec, test::proxy_ssl_tlv("admin", true)));
  CHECK(local.proxy_itself);
  CHECK(local.client_certificate == PeerIdentity::Certificate::kNone);
  CHECK(local.client_cn.empty());
  CHECK(local.via == " (the proxy's own connection)");
}

}  // namespace
}  // namespace zcrecv::net
