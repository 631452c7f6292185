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
  // Peek, not read: until the header is complete and valid, no byte may leave the socket, or the
  // first payload byte would no longer be the first one spliced (§4.3).
  auto peeked = sys::recv(fd, buffer, MSG_PEEK | MSG_DONTWAIT);
  if (!peeked) {
    return std::move(peeked).error();
  }
  if (!peeked->has_value()) {
    return ProxyReceive{};
  }
  const std::size_t seen = **peeked;
  ProxyReceive received;
  // Zero from recv is the peer's FIN before any byte: a proxy's TCP health check, not an error.
  if (seen == 0) {
    received.ended = true;
    return received;
  }
  auto parsed = parse_proxy_header(std::span(buffer).first(seen));
  if (!parsed) {
    return std::move(parsed).error();
  }
  if (!*parsed) {
    // Incomplete: the bytes stay in the socket and the next peek sees them again with what follows.
    received.waiting = seen;
    return received;
  }
  // The header's bytes were peeked, so they are there: a stream socket hands over as many as
  // asked for while it holds them. The loop is for the letter of recv(2), not for a case seen.
  // Exactly the header's length and no more: what follows is the stream's, for the splice.
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
