#include "net/socket_address.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>

#include "support/loopback.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::net {
namespace {

using test::ip;

TEST_CASE("IP addresses print as HOST:PORT, IPv6 in brackets, IPv4-mapped as plain IPv4") {
  SocketAddress v4 = ip("127.0.0.1", 9000);
  CHECK(v4.family() == AF_INET);
  CHECK(v4.size() == sizeof(sockaddr_in));
  CHECK(v4.port() == 9000);
  CHECK(v4.to_string() == "127.0.0.1:9000");
  CHECK(v4.ip_string() == "127.0.0.1");
  CHECK(v4.ip_bytes().size() == 4);

  SocketAddress v6 = ip("::1", 9000);
  CHECK(v6.family() == AF_INET6);
  CHECK(v6.size() == sizeof(sockaddr_in6));
  CHECK(v6.port() == 9000);
  CHECK(v6.to_string() == "[::1]:9000");
  CHECK(v6.ip_string() == "::1");
  CHECK_FALSE(v6.is_ipv4_mapped());
  CHECK(ip("2001:DB8:0:0::5", 1).to_string() == "[2001:db8::5]:1");

  SocketAddress mapped = ip("::ffff:1.2.3.4", 51234);
  CHECK(mapped.family() == AF_INET6);
  CHECK(mapped.is_ipv4_mapped());
  CHECK(mapped.to_string() == "1.2.3.4:51234");
  CHECK(mapped.ip_string() == "1.2.3.4");
  SocketAddress plain = mapped.unmapped();
  CHECK(plain.family() == AF_INET);
  CHECK(plain.port() == 51234);
  CHECK(plain.to_string() == "1.2.3.4:51234");
  CHECK(v6.unmapped().to_string() == "[::1]:9000");

  CHECK_FALSE(SocketAddress::from_ip("localhost", 1).has_value());
  CHECK_FALSE(SocketAddress::from_ip("[::1]", 1).has_value());
  CHECK_FALSE(SocketAddress::from_ip("", 1).has_value());
}

TEST_CASE("wildcard addresses are unspecified") {
  CHECK(SocketAddress::any(AF_INET, 80).to_string() == "0.0.0.0:80");
  CHECK(SocketAddress::any(AF_INET6, 80).to_string() == "[::]:80");
  CHECK(SocketAddress::any(AF_INET, 80).is_unspecified());
  CHECK(SocketAddress::any(AF_INET6, 80).is_unspecified());
  CHECK_FALSE(ip("127.0.0.1", 80).is_unspecified());
  CHECK_FALSE(SocketAddress::unix_path("/x").is_unspecified());
}

TEST_CASE("Unix addresses: paths, abstract names, unnamed peers") {
  SocketAddress path = SocketAddress::unix_path("/run/x.sock");
  CHECK(path.family() == AF_UNIX);
  CHECK(path.size() == offsetof(sockaddr_un, sun_path) + sizeof "/run/x.sock");
  CHECK(path.to_string() == "unix:/run/x.sock");
  CHECK(path.port() == 0);
  CHECK(path.ip_string().empty());
  CHECK(path.ip_bytes().empty());

  SocketAddress abstract = SocketAddress::unix_abstract("zcrecv");
  CHECK(abstract.size() == offsetof(sockaddr_un, sun_path) + 1 + 6);
  CHECK(abstract.to_string() == "unix:@zcrecv");

  // socketpair ends are bound to nothing: the kernel reports the family alone.
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  sys::UniqueFd a(fds[0]);
  sys::UniqueFd b(fds[1]);
  auto peer = SocketAddress::peer_of(a.get());
  REQUIRE(peer.ok());
  CHECK(peer->family() == AF_UNIX);
  CHECK(peer->to_string() == "unix:(unnamed)");
  auto local = SocketAddress::local_of(b.get());
  REQUIRE(local.ok());
  CHECK(local->to_string() == "unix:(unnamed)");

  CHECK(SocketAddress().family() == AF_UNSPEC);
  CHECK(SocketAddress().to_string() == "(no address)");
}

TEST_CASE("local_of and peer_of report a failed call with its name") {
  auto local = SocketAddress::local_of(-1);
  REQUIRE_FALSE(local.ok());
  CHECK(local.error().message() == "getsockname: Bad file descriptor");
  auto pipe = sys::pipe2(O_CLOEXEC);
  REQUIRE(pipe.ok());
  auto peer = SocketAddress::peer_of(pipe->read_end.get());
  REQUIRE_FALSE(peer.ok());
  CHECK(peer.error().errno_value() == ENOTSOCK);
}

TEST_CASE("a socket file whose path starts with '@' does not print as an abstract name") {
  CHECK(SocketAddress::unix_path("@run/x.sock").to_string() == "@run/x.sock");
  CHECK(SocketAddress::unix_path("@x").to_string() == "unix:./@x");
  CHECK(SocketAddress::unix_abstract("x").to_string() == "unix:@x");
}

}  // namespace
}  // namespace zcrecv::net
