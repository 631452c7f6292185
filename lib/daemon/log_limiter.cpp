#include "daemon/log_limiter.hpp"

namespace zcrecv::daemon {

std::optional<std::uint64_t> LogLimiter::admit(Clock::time_point now) {
  // Nanoseconds in one atomic, so that the workers share the limiter without a lock.
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::int64_t allowed = next_allowed_ns_.load(std::memory_order_relaxed);
  // Of the threads that find the interval over, the one that moves the next slot wins the line.
  if (now_ns >= allowed && next_allowed_ns_.compare_exchange_strong(
                               allowed, now_ns + interval_.count(), std::memory_order_relaxed)) {
    return suppressed_.exchange(0, std::memory_order_relaxed);
  }
  // Counted so that the next line let through, or flush, can say how many were held back.
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
  // flush takes the slot like admit does: a summary line counts against the one-a-second limit.
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
