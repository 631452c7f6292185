#include "support/socket_pair.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "sys/syscalls.hpp"

namespace zcrecv::test {
namespace {

template <class T>
T require(sys::Result<T> result, const char* what) {
  if (!result) {
    throw std::runtime_error(std::string(what) + ": " + result.error().message());
  }
  return std::move(result).value();
}

void require(const sys::Result<void>& result, const char* what) {
  if (!result) {
    throw std::runtime_error(std::string(what) + ": " + result.error().message());
  }
}

// `listener` is bound and listening; connects to the address it got and accepts the connection.
SocketPair connect_and_accept(int domain, const sys::UniqueFd& listener) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  require(sys::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length),
          "test listener");
  auto sender = require(sys::socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0), "test client");
  require(sys::connect(sender.get(), reinterpret_cast<const sockaddr*>(&address), length),
          "test client");
  // The listener is blocking and the connection is already queued: accept returns at once.
  auto accepted = require(
      sys::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC), "test accept");
  if (!accepted) {
    throw std::runtime_error("test accept: no connection queued");
  }
  return SocketPair{std::move(sender), std::move(*accepted)};
}

}  // namespace

SocketPair make_tcp_pair() {
  auto listener = require(sys::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "test listener");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  require(sys::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address),
          "test listener 127.0.0.1:0");
  require(sys::listen(listener.get(), 1), "test listener 127.0.0.1:0");
  return connect_and_accept(AF_INET, listener);
}

SocketPair make_unix_pair() {
  auto listener = require(sys::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "test listener");
  // Binding only the family asks the kernel for a fresh abstract name: nothing to clean up and
  // no collision between tests running at the same time.
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  require(sys::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address),
                    sizeof address.sun_family),
          "test unix listener");
  require(sys::listen(listener.get(), 1), "test unix listener");
  return connect_and_accept(AF_UNIX, listener);
}

}  // namespace zcrecv::test
