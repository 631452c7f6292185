#include "support/loopback.hpp"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

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

sys::UniqueFd connect_from(const char* source_ip, const net::SocketAddress& address) {
  sys::UniqueFd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const auto source = net::SocketAddress::from_ip(source_ip, 0);
  if (!socket || !source || ::bind(socket.get(), source->data(), source->size()) != 0 ||
      ::connect(socket.get(), address.data(), address.size()) != 0) {
    throw std::runtime_error(std::string("connect from ") + source_ip + " to " +
                             address.to_string() + ": " + std::strerror(errno));
  }
  return socket;
}

net::SocketAddress ip(const char* text, std::uint16_t port) {
  auto address = net::SocketAddress::from_ip(text, port);
  REQUIRE_MESSAGE(address.has_value(), text);
  return *address;
}

bool closed_by_peer(const sys::UniqueFd& socket, std::chrono::milliseconds timeout) {
  pollfd ready{socket.get(), POLLIN, 0};
  if (::poll(&ready, 1, static_cast<int>(timeout.count())) != 1) {
    return false;
  }
  std::array<std::byte, 64> buffer{};
  return ::recv(socket.get(), buffer.data(), buffer.size(), MSG_DONTWAIT) <= 0;
}

std::string read_until_closed(const sys::UniqueFd& socket, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string received;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd ready{socket.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) != 1) {
      throw std::runtime_error("the peer did not close the connection in time; received \"" +
                               received + "\"");
    }
    std::array<char, 256> buffer{};
    const ssize_t got = ::recv(socket.get(), buffer.data(), buffer.size(), 0);
    if (got <= 0) {
      return received;
    }
    received.append(buffer.data(), static_cast<std::size_t>(got));
  }
}

}  // namespace zcrecv::test
