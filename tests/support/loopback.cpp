#include "support/loopback.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <stdexcept>
#include <utility>

#include "sys/syscalls.hpp"

namespace zcrecv::test {

sys::UniqueFd connect_blocking(const net::SocketAddress& address) {
  net::SocketAddress target = address;
  if (address.is_unspecified()) {
    const char* loopback = address.family() == AF_INET6 ? "::1" : "127.0.0.1";
    target = *net::SocketAddress::from_ip(loopback, address.port());
  }
  auto fd = sys::socket(target.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (!fd) {
    throw std::runtime_error("connect to " + target.to_string() + ": " + fd.error().message());
  }
  if (auto connected = sys::connect(fd->get(), target.data(), target.size()); !connected) {
    throw std::runtime_error("connect to " + target.to_string() + ": " +
                             connected.error().message());
  }
  return std::move(*fd);
}

net::SocketAddress ip(const char* text, std::uint16_t port) {
  auto address = net::SocketAddress::from_ip(text, port);
  REQUIRE_MESSAGE(address.has_value(), text);
  return *address;
}

}  // namespace zcrecv::test
