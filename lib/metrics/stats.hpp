#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "handoff/hook_stats.hpp"
#include "metrics/histogram.hpp"
#include "metrics/listener_stats.hpp"
#include "retention/retention_stats.hpp"

namespace zcrecv::metrics {

/// The daemon's counters: relaxed atomics, each updated where the event happens — by the
/// workers, their connections, the hook runner — and read together, without a lock, by the
/// SIGUSR2 line, the systemd STATUS and the metrics endpoint (a snapshot is therefore
/// approximate across counters, exact for each). Those of each listener are in `listeners`.
struct Stats {
  /// Connections open on every listener; max_connections counts these.
  std::atomic<std::uint64_t> connections_open{0};
  /// Connections that ended on the splice path, and on the read/write path.
  std::atomic<std::uint64_t> splice_connections{0};
  std::atomic<std::uint64_t> readwrite_connections{0};
  /// Times a connection stopped reading because the disk was full or below min_free_space.
  std::atomic<std::uint64_t> disk_full_pauses{0};
  /// Times a connection stopped reading until the sync stage caught up.
  std::atomic<std::uint64_t> sync_pauses{0};
  /// Connections not reading now because the output cannot take bytes (disk full, below
  /// min_free_space, no descriptor left for the file), and because the sync stage is behind.
  std::atomic<std::uint64_t> paused_for_output{0};
  std::atomic<std::uint64_t> paused_for_sync{0};
  /// Files handed to the sync stage whose outcome has not come back yet, over all connections.
  std::atomic<std::uint64_t> sync_queue{0};
  /// Bytes read from a socket and never written: what a connection still held at its end.
  std::atomic<std::uint64_t> lost_bytes{0};
  /// Records split across two files: with a record delimiter, none came within record_max of a
  /// file's end (or within record_wait of a time or signal rotation).
  std::atomic<std::uint64_t> records_split{0};
  /// Delivery receipts written: "OK" (stored and durable) and "ERR" (cut: send again).
  std::atomic<std::uint64_t> receipts_ok{0};
  std::atomic<std::uint64_t> receipts_err{0};
  /// With sync = publish, each file from its hand-over to the sync stage to its directory
  /// fsync, in seconds.
  metrics::Histogram publish_duration{std::vector<double>(metrics::Histogram::kLatencySeconds)};
  /// Connections of proxy_protocol listeners refused for want of a PROXY header, by reason; each
  /// is also one of its listener's rejections (RejectReason::kProxy). Not allowed: from an
  /// address not in proxy_from. Timeout: no complete header within proxy_timeout. Invalid: bytes
  /// that are not a valid header, or a stream that ended or was reset inside one.
  std::atomic<std::uint64_t> proxy_header_not_allowed{0};
  std::atomic<std::uint64_t> proxy_header_timeout{0};
  std::atomic<std::uint64_t> proxy_header_invalid{0};
  /// on_publish hooks, counted by the daemon's HookRunner.
  handoff::HookStats hooks;
  /// [retention], counted by the retention thread.
  retention::RetentionStats retention;
  /// Per listener. The table itself is the daemon's main thread's; the workers count into the
  /// ListenerStats it holds.
  ListenerStatsTable listeners;

  /// One log line: "connections open=2 total=10 rejected=1, bytes=1048576, files published=12,
  /// splice=7 readwrite=1, disk-full pauses=0, sync pauses=3, sync queue=1, publish seconds
  /// count=11 p50=0.00312 p99=0.0871 max=0.113, proxy header failures not_allowed=0 timeout=1
  /// invalid=0, receipts ok=9 err=1, hooks started=12 succeeded=11 failed=1 backlog=1". The
  /// totals are the sums over `listeners`. On the main thread only.
  [[nodiscard]] std::string summary() const;
};

}  // namespace zcrecv::metrics
