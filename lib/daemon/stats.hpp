#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "handoff/hook_stats.hpp"

namespace zcrecv::daemon {

/// The daemon's counters, shared by every worker: relaxed atomics, each updated where the
/// event happens and read together for the SIGUSR2 snapshot (which is therefore approximate
/// across counters, exact for each).
struct Stats {
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_rejected{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> files_published{0};
  /// Connections that ended on the splice path, and on the read/write path.
  std::atomic<std::uint64_t> splice_connections{0};
  std::atomic<std::uint64_t> readwrite_connections{0};
  std::atomic<std::uint64_t> disk_full_pauses{0};
  /// Times a connection stopped reading until the sync stage caught up.
  std::atomic<std::uint64_t> sync_pauses{0};
  /// Delivery receipts written: "OK" (stored and durable) and "ERR" (cut: send again).
  std::atomic<std::uint64_t> receipts_ok{0};
  std::atomic<std::uint64_t> receipts_err{0};
  /// on_publish hooks, counted by the daemon's HookRunner.
  handoff::HookStats hooks;

  /// One log line: "connections open=2 total=10 rejected=1, bytes=1048576, files published=12,
  /// splice=7 readwrite=1, disk-full pauses=0, hooks started=12 succeeded=11 failed=1
  /// backlog=1".
  [[nodiscard]] std::string summary() const;
};

}  // namespace zcrecv::daemon
