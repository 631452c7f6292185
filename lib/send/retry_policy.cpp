#include "send/retry_policy.hpp"

#include <algorithm>

namespace zcrecv::send {

std::chrono::nanoseconds RetryPolicy::delay_before(unsigned attempt, double unit_random) const {
  if (attempt < 2) {
    return std::chrono::nanoseconds(0);
  }
  std::chrono::nanoseconds delay = backoff;
  // Doubling stops at the bound, so the product never overflows however many attempts there are.
  for (unsigned i = 2; i < attempt && delay < backoff_max; ++i) {
    delay *= 2;
  }
  delay = std::min(delay, backoff_max);
  const double jitter = std::clamp(unit_random, 0.0, 1.0);
  // "Equal jitter": half the wait is certain, so a retry never comes back at once; half is random,
  // so senders cut together by one failure spread out.
  const auto half = delay / 2;
  return half + std::chrono::nanoseconds(
                    static_cast<std::int64_t>(static_cast<double>((delay - half).count()) * jitter));
}

std::size_t RetryPolicy::address_of(unsigned attempt, std::size_t first, std::size_t count) {
  // Round robin from the address that answered last: each retry tries the next receiver, so one
  // that is down does not take every attempt.
  return (first + (attempt > 0 ? attempt - 1 : 0)) % count;
}

}  // namespace zcrecv::send
