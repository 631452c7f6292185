#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "metrics/listener_stats.hpp"
#include "net/cidr.hpp"
#include "net/peer_identity.hpp"
#include "net/socket_address.hpp"
#include "sys/result.hpp"

namespace zcrecv::daemon {

/// What a listener's configuration says about the connections it accepts; a reload may replace
/// it while the socket stays open. Immutable, shared between workers.
struct ListenerSettings {
  /// {listener} in file names and logs.
  std::string name;
  /// TCP: the peers let in; empty lets everyone in.
  std::vector<net::Cidr> allow;
  /// Unix: the peer uids let in (SO_PEERCRED); empty lets everyone in.
  std::vector<uid_t> allow_uids;
  /// Connections answer a delivery receipt once their stream is durable.
  bool receipt = false;
  /// The counters of the listener's name, which its connections keep counting into.
  std::shared_ptr<metrics::ListenerStats> stats;
  /// Every connection starts with a PROXY header naming the client; the socket's peer is a
  /// proxy.
  bool proxy_protocol = false;
  /// TCP with proxy_protocol: the proxies that may connect.
  std::vector<net::Cidr> proxy_from;
  /// With proxy_protocol: how long a connection may take to send its whole header.
  std::chrono::nanoseconds proxy_timeout{0};
  /// With proxy_protocol and an allow list: let in streams whose header names no client.
  bool allow_proxy_local = false;

  /// Why the socket's peer at `address`, described by `peer`, may not connect, checked right
  /// after accept; std::nullopt if it may. Unix: allow_uids. TCP: the allow list — unless
  /// proxy_protocol is on: the peer is then a proxy (proxy_refusal), and the allow list is for
  /// the client its header names (client_refusal).
  [[nodiscard]] std::optional<std::string> refusal(const net::SocketAddress& address,
                                                   const net::PeerIdentity& peer) const;
  /// With proxy_protocol on TCP: why the socket's peer at `address` may not send a PROXY header
  /// (it is not in proxy_from); std::nullopt if it may, and always on Unix sockets or without
  /// proxy_protocol.
  [[nodiscard]] std::optional<std::string> proxy_refusal(const net::SocketAddress& address) const;
  /// Why `client` may not connect by the allow list; std::nullopt if it may. With proxy_protocol,
  /// `client` is the one a PROXY header names, std::nullopt for a header that names none (LOCAL,
  /// UNKNOWN): the proxy's own connection, let in by proxy_refusal already.
  [[nodiscard]] std::optional<std::string> client_refusal(
      const std::optional<net::SocketAddress>& client) const;
  /// With proxy_protocol: why a stream whose header names no client (the proxy's own
  /// connection) may not send data, or std::nullopt if it may. The allow list cannot check a
  /// client nobody named, so with one such streams are refused unless allow_proxy_local; a
  /// proxy's health checks, which end without data, are not streams and are never refused.
  [[nodiscard]] std::optional<std::string> unknown_client_refusal() const;
  /// Whether unknown_client_refusal() refuses, without building its text: a PROXY handshake
  /// asks at every accept.
  [[nodiscard]] bool refuses_unknown_client() const noexcept {
    return !allow.empty() && !allow_proxy_local;
  }
};

/// The settings of one `[[listen]]` table, counting into `stats`.
std::shared_ptr<const ListenerSettings> make_listener_settings(
    const config::ListenerConfig& config, std::shared_ptr<metrics::ListenerStats> stats);

}  // namespace zcrecv::daemon
