#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>

#include "net/proxy_header.hpp"
#include "net/socket_address.hpp"

namespace zcrecv::net {

/// Who is on the other end of a connection, in the forms the daemon needs. Behind a proxy that
/// sent a PROXY header, the client the header names.
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
  /// For logs, after `display`: how the peer came, when through a proxy (PROXY protocol):
  /// " via 127.0.0.1:40112", with what the proxy says of the client's TLS
  /// (" via 127.0.0.1:40112 (TLS, client certificate CN \"alice\", verified)"), or
  /// " (the proxy's own connection)". Empty for a direct peer.
  std::string via;
  /// Through a proxy: the connection is the proxy's own, as its health checks are, and the
  /// proxy is the peer.
  bool proxy_itself = false;
  /// What the proxy says of the client's TLS certificate on this connection.
  enum class Certificate {
    /// None: no TLS, no SSL TLV, or the proxy's own connection (whose TLVs are ignored).
    kNone,
    /// Presented but not verified: its CN is not an identity.
    kUnverified,
    /// Presented and verified: `client_cn` holds its CN.
    kVerified,
  };
  Certificate client_certificate = Certificate::kNone;
  /// {client_cn}: the Common Name of the client's TLS certificate, when the proxy says the client
  /// presented one on this connection and it was verified (kVerified). The certificate's bytes,
  /// unsanitised; empty otherwise.
  std::string client_cn;

  /// `display` and `via`, for log lines.
  [[nodiscard]] std::string described() const { return display + via; }
};

/// Describes the peer of connection `fd`, whose address accept() reported as `peer`.
/// IPv4-mapped IPv6 peers are described as IPv4. For Unix peers the credentials are read
/// from `fd`; for IP peers `fd` is not used.
PeerIdentity identify_peer(int fd, const SocketAddress& peer);

/// The peer of a connection that began with PROXY `header`, sent by `proxy` (identify_peer of
/// the socket's peer, at `proxy_address`): the client the header names, reached via the proxy;
/// from an SSL TLV, the client certificate in `via` and, verified, in `client_cn`.
///
/// A header that names no client (v2 LOCAL or UNSPEC, v1 UNKNOWN), or names the proxy itself
/// (HAProxy's v1 health checks carry the check connection's own addresses), makes the
/// connection the proxy's own: the proxy is the peer, `proxy_itself` is set, and the header's
/// TLVs are ignored (they describe no client). A Unix client
/// address (v2 AF_UNIX) says nothing about who the client is — most clients never bind their
/// socket, and a path is no one — so such a client is the proxy's: `unix-via-` and the proxy's
/// token in file names, the client's address in logs, and one per-peer count for all of one
/// proxy's Unix clients.
PeerIdentity identify_proxied_peer(const ProxyHeader& header, const SocketAddress& proxy_address,
                                   const PeerIdentity& proxy);

}  // namespace zcrecv::net
