#pragma once

#include <cstdint>

#include "daemon/connection_ids.hpp"
#include "daemon/peer_table.hpp"
#include "daemon/stats.hpp"

namespace zcrecv::daemon {

/// What the workers share, all of it thread-safe: counters, per-peer connection counts and the
/// connection id source. Owned by the daemon; outlives the workers.
struct SharedState {
  explicit SharedState(std::uint32_t id_prefix) : ids(id_prefix) {}

  Stats stats;
  PeerTable peers;
  ConnectionIds ids;
};

}  // namespace zcrecv::daemon
