#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "metrics/health.hpp"
#include "output/output_directory.hpp"

namespace zcrecv::daemon {

/// Watches the output directory's free space from the daemon's main loop, so that neither a
/// worker nor a /health request makes a system call for it.
///
/// Every kInterval it measures (OutputDirectory::measure_space) each output directory a
/// connection may still write into — the workers read those figures through Worker::space_low
/// — and judges the one new connections write into: below its min_free_space, or failing
/// (fstatvfs fails, the directory was removed or replaced, its filesystem is read-only, the
/// daemon may not write in it), it cannot take data, and /health says disk_full. Entering that
/// state is a warning naming the directory, its free space and the key limits.min_free_space
/// (at start too); leaving it is an info line.
///
/// Threads: the loop's thread only; health() is for the same thread (the metrics endpoint).
class SpaceMonitor {
 public:
  /// How often the directories are measured: a connection reads at most this long past the
  /// floor, and a balancer learns of a full disk this much later at worst.
  static constexpr std::chrono::milliseconds kInterval{100};

  /// A monitor on `loop`, which must outlive it, watching nothing yet.
  explicit SpaceMonitor(event::EventLoop& loop);

  /// From now on judges `directory` against `min_free_space` (as LimitsConfig has it:
  /// std::nullopt is the automatic floor): measures and judges it at once, logs its floor when
  /// it changed, and keeps measuring every kInterval. The directory watched before is still
  /// measured as long as connections write into it.
  void watch(std::shared_ptr<output::OutputDirectory> directory,
             std::optional<std::uint64_t> min_free_space);

  /// Measures every directory and judges the watched one now (the timer's work).
  void check();

  /// The watched directory as last judged.
  [[nodiscard]] const metrics::DirectoryHealth& health() const noexcept { return health_; }

 private:
  // Measures the directories watched before that someone still holds, and forgets the others.
  void measure_previous();
  // Judges the watched directory and logs a change of verdict; a `new_directory` that cannot
  // take data is warned about whatever the verdict on the one before.
  void judge_and_log(bool new_directory);
  // Measures the watched directory: why it cannot take data, or std::nullopt if it can.
  std::optional<std::string> judge();

  event::Timer timer_;
  std::shared_ptr<output::OutputDirectory> directory_;
  std::optional<std::uint64_t> configured_;
  // The floor as last logged ("2457KiB (auto: ...)"), so that it is logged once per change.
  std::string floor_logged_;
  // Directories watched before, which connections accepted then may still write into.
  std::vector<std::weak_ptr<output::OutputDirectory>> previous_;
  metrics::DirectoryHealth health_;
};

}  // namespace zcrecv::daemon
