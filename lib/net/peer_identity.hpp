#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>

#include "net/socket_address.hpp"

namespace zcrecv::net {

/// Who is on the other end of a connection, in the three forms the daemon needs.
struct PeerIdentity {
  /// For file names ({peer}): only [A-Za-z0-9._-]. `10.0.0.5_51234`,
  /// `v6-<32 hex digits>_443`, `unix-uid1000-pid4242`, `unix-unknown`.
  std::string file_token;
  /// For logs: `10.0.0.5:51234`, `[::1]:443`, `unix uid=1000 pid=4242`.
  std::string display;
  /// Groups one peer's connections for per-peer limits: the IP address without port
  /// (`10.0.0.5`, `::1`), or `uid:1000` for Unix peers.
  std::string key;
  /// Unix peers: SO_PEERCRED, when the kernel gave it.
  std::optional<ucred> credentials;
};

/// Describes the peer of connection `fd`, whose address accept() reported as `peer`.
/// IPv4-mapped IPv6 peers are described as IPv4. For Unix peers the credentials are read
/// from `fd`; for IP peers `fd` is not used.
PeerIdentity identify_peer(int fd, const SocketAddress& peer);

}  // namespace zcrecv::net
