#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>

namespace zcrecv::daemon {

/// Lets through at most one log line per interval and counts the ones it held back, so that a
/// flood (a scanner hitting an allow-list, a full disk) costs one line a second. The owner
/// calls flush() when the window ends, so that lines held back are counted in the log even when
/// no later line comes. Thread-safe: the workers sharing a listener share its limiter.
class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogLimiter(std::chrono::nanoseconds interval = std::chrono::seconds(1))
      : interval_(interval) {}

  /// The number of lines suppressed since the last one let through, if a line may be logged
  /// now; std::nullopt (and one more suppressed) otherwise.
  std::optional<std::uint64_t> admit(Clock::time_point now);
  /// At the end of a window that held lines back: their number, for a summary line that takes
  /// the slot of a line let through (the next window starts now); std::nullopt before the
  /// window ends, when nothing is held back, or when another thread took the slot first.
  std::optional<std::uint64_t> flush(Clock::time_point now);
  /// When the current window ends: when a line may be let through again, and flush() report
  /// the ones held back.
  [[nodiscard]] Clock::time_point window_end() const;

 private:
  std::chrono::nanoseconds interval_;
  std::atomic<std::int64_t> next_allowed_ns_{std::numeric_limits<std::int64_t>::min()};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace zcrecv::daemon
