#include "net/peer_identity.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "support/loopback.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::net {
namespace {

using test::ip;

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

}  // namespace
}  // namespace zcrecv::net
