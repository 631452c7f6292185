#pragma once

#include <cstddef>
#include <optional>

#include "net/proxy_header.hpp"
#include "sys/result.hpp"

namespace zcrecv::net {

/// How far a PROXY header has come in on a socket.
struct ProxyReceive {
  /// The header, once complete; its bytes are then consumed, so the next byte the socket gives
  /// is the payload's first.
  std::optional<ProxyHeader> header;
  /// While the header is incomplete: how many of its bytes wait in the socket (peeked, left
  /// there). 0: nothing has arrived yet.
  std::size_t waiting = 0;
  /// The peer ended the stream without sending a byte (a TCP health check, a port scan).
  bool ended = false;
};

/// Reads the PROXY header at the start of stream socket `fd`, as HAProxy's conn_recv_proxy does:
/// peeks at up to kMaxProxyHeaderSize bytes without waiting, parses them (parse_proxy_header),
/// and once the header is complete consumes exactly its bytes. The payload stays in the socket,
/// for splice; so does an incomplete header: call again when more has arrived. Because those
/// bytes stay, a level-triggered epoll would report the socket readable again at once: watch it
/// edge-triggered (EPOLLET) while the header is incomplete. A peer that ends the stream part-way
/// into a header looks here like one that has not finished it: EPOLLRDHUP tells them apart.
///
/// Errors: the parser's Error::invalid for bytes that cannot start a header, or recv's errno
/// ("recv: Connection reset by peer").
sys::Result<ProxyReceive> receive_proxy_header(int fd);

}  // namespace zcrecv::net
