#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "daemon/listener_stats.hpp"
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
  std::shared_ptr<ListenerStats> stats;

  /// Why the peer at `address`, described by `peer`, may not connect; std::nullopt if it may.
  [[nodiscard]] std::optional<std::string> refusal(const net::SocketAddress& address,
                                                   const net::PeerIdentity& peer) const;
};

/// The settings of one `[[listen]]` table, counting into `stats`. Fails only on an allow entry
/// that is not a CIDR (the configuration loader validates them first); the error names its
/// origin.
sys::Result<std::shared_ptr<const ListenerSettings>> make_listener_settings(
    const config::ListenerConfig& config, std::shared_ptr<ListenerStats> stats);

}  // namespace zcrecv::daemon
