#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "retention/retention_policy.hpp"

namespace zcrecv::retention {

/// The retention counters: relaxed atomics counted by the retention thread and read from
/// anywhere (the metrics endpoint).
struct RetentionStats {
  /// Files deleted and their bytes, indexed by RetentionReason.
  std::array<std::atomic<std::uint64_t>, kRetentionReasons> deleted_files{};
  std::array<std::atomic<std::uint64_t>, kRetentionReasons> deleted_bytes{};
  /// The published files under the output directory, and their bytes, as retention counts them.
  std::atomic<std::uint64_t> files{0};
  std::atomic<std::uint64_t> bytes{0};
  /// Files past a limit kept at the last check because their hand-off is not done.
  std::atomic<std::uint64_t> held{0};
  /// Files that could not be deleted (or looked at) when a limit said so.
  std::atomic<std::uint64_t> errors{0};

  std::atomic<std::uint64_t>& deleted(RetentionReason reason) {
    return deleted_files[static_cast<std::size_t>(reason)];
  }
};

}  // namespace zcrecv::retention
