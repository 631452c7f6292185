#include "daemon/log_limiter.hpp"

namespace zcrecv::daemon {

std::optional<std::uint64_t> LogLimiter::admit(Clock::time_point now) {
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::int64_t allowed = next_allowed_ns_.load(std::memory_order_relaxed);
  // Of the threads that find the interval over, the one that moves the next slot wins the line.
  if (now_ns >= allowed && next_allowed_ns_.compare_exchange_strong(
                               allowed, now_ns + interval_.count(), std::memory_order_relaxed)) {
    return suppressed_.exchange(0, std::memory_order_relaxed);
  }
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  return std::nullopt;
}

std::optional<std::uint64_t> LogLimiter::flush(Clock::time_point now) {
  if (suppressed_.load(std::memory_order_relaxed) == 0) {
    return std::nullopt;
  }
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::int64_t allowed = next_allowed_ns_.load(std::memory_order_relaxed);
  if (now_ns < allowed || !next_allowed_ns_.compare_exchange_strong(
                              allowed, now_ns + interval_.count(), std::memory_order_relaxed)) {
    return std::nullopt;
  }
  const std::uint64_t held = suppressed_.exchange(0, std::memory_order_relaxed);
  return held == 0 ? std::nullopt : std::optional(held);
}

LogLimiter::Clock::time_point LogLimiter::window_end() const {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::nanoseconds(next_allowed_ns_.load(std::memory_order_relaxed))));
}

}  // namespace zcrecv::daemon
