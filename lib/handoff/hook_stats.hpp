#pragma once

#include <atomic>
#include <cstdint>

namespace zcrecv::handoff {

/// The hand-off counters, relaxed atomics counted by the HookRunner on the daemon's main thread
/// and read from anywhere (the SIGUSR2 line, the metrics endpoint).
struct HookStats {
  /// Hooks started: every attempt, including those that could not be spawned.
  std::atomic<std::uint64_t> started{0};
  /// Attempts that exited 0 in time.
  std::atomic<std::uint64_t> succeeded{0};
  /// Attempts that exited non-zero, were killed, timed out or could not be spawned.
  std::atomic<std::uint64_t> failed{0};
  /// Files held in memory for a hook: queued, running, or waiting to be retried.
  std::atomic<std::uint64_t> backlog{0};
};

}  // namespace zcrecv::handoff
