#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zcrecv::metrics {

/// Whether the daemon can take data: what GET /health answers (200 "ok", or 503 with the state
/// as the first word of the body) and zcrecv_health_state exports.
enum class HealthState {
  kOk,
  /// The output directory is below limits.min_free_space, or failing (SpaceMonitor).
  kDiskFull,
  /// A stop has begun: the listeners are closed, connections drain.
  kStopping,
};

inline constexpr std::array kHealthStates{HealthState::kOk, HealthState::kDiskFull,
                                          HealthState::kStopping};

/// "ok", "disk_full", "stopping".
std::string_view to_string(HealthState state);

/// The output directory new connections write into, as the SpaceMonitor last judged it.
struct DirectoryHealth {
  std::string path;
  /// Bytes available to the daemon; std::nullopt when they could not be measured.
  std::optional<std::uint64_t> free_bytes;
  /// The floor in force (config::min_free_space_for); 0 until the filesystem was measured.
  std::uint64_t min_free_space = 0;
  /// Why it cannot take data ("1048576 bytes free, below limits.min_free_space = 2MiB",
  /// "fstatvfs: ...", "removed or replaced"); std::nullopt when it can.
  std::optional<std::string> problem;
};

}  // namespace zcrecv::metrics
