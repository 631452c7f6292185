#pragma once

#include <cstdint>

#include "daemon/connection_ids.hpp"
#include "daemon/peer_table.hpp"
#include "metrics/stats.hpp"
#include "output/sync_stage.hpp"

namespace zcrecv::daemon {

/// What the workers share, all of it thread-safe: counters, per-peer connection counts, the
/// connection id source and the sync stage. Owned by the daemon; outlives the workers.
struct SharedState {
  SharedState(std::uint32_t id_prefix, output::SyncStage* stage)
      : ids(id_prefix), sync_stage(stage) {}

  metrics::Stats stats;
  PeerTable peers;
  ConnectionIds ids;
  /// Owned by the daemon, which drains it once the workers have stopped and before they go.
  output::SyncStage* sync_stage;
};

}  // namespace zcrecv::daemon
