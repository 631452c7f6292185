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

}  // namespace zcrecv::daemon
