#pragma once

#include "sys/unique_fd.hpp"

namespace zcrecv::test {

/// Both ends of an accepted stream connection.
struct SocketPair {
  /// The client's end, blocking: what a test writes into.
  sys::UniqueFd sender;
  /// The accepted end, non-blocking: what zcrecv would receive on.
  sys::UniqueFd receiver;
};

/// Listens on 127.0.0.1 port 0, connects and accepts. Throws std::runtime_error on failure.
SocketPair make_tcp_pair();
/// The same over a Unix stream listener on an abstract name the kernel picks (autobind), so the
/// receiver is an accepted socket as zcrecv sees it, not a socketpair(). Throws on failure.
SocketPair make_unix_pair();

}  // namespace zcrecv::test
