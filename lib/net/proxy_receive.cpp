#include "net/proxy_receive.hpp"

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "sys/syscalls.hpp"

namespace zcrecv::net {

sys::Result<ProxyReceive> receive_proxy_header(int fd) {
  // Not zeroed: only the bytes recv wrote are read.
  std::array<std::byte, kMaxProxyHeaderSize> buffer;
  auto peeked = sys::recv(fd, buffer, MSG_PEEK | MSG_DONTWAIT);
  if (!peeked) {
    return std::move(peeked).error();
  }
  if (!peeked->has_value()) {
    return ProxyReceive{};
  }
  const std::size_t seen = **peeked;
  ProxyReceive received;
  if (seen == 0) {
    received.ended = true;
    return received;
  }
  auto parsed = parse_proxy_header(std::span(buffer).first(seen));
  if (!parsed) {
    return std::move(parsed).error();
  }
  if (!*parsed) {
    received.waiting = seen;
    return received;
  }
  // The header's bytes were peeked, so they are there: a stream socket hands over as many as
  // asked for while it holds them. The loop is for the letter of recv(2), not for a case seen.
  std::size_t left = (*parsed)->length;
  while (left > 0) {
    auto consumed = sys::recv(fd, std::span(buffer).first(left), MSG_DONTWAIT);
    if (!consumed) {
      return std::move(consumed).error();
    }
    if (!consumed->has_value() || **consumed == 0) {
      return sys::Error::invalid("PROXY header: " + std::to_string(left) +
                                 " of its peeked bytes could not be read");
    }
    left -= **consumed;
  }
  received.header = std::move(**parsed);
  return received;
}

}  // namespace zcrecv::net
