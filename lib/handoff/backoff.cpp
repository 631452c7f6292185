#include "handoff/backoff.hpp"

#include <algorithm>

namespace zcrecv::handoff {

std::chrono::nanoseconds backoff_delay(unsigned failures) {
  std::chrono::nanoseconds delay = kRetryMin;
  // Doubling stops at the bound, so the shift never overflows however many failures there were.
  for (unsigned i = 1; i < failures && delay < kRetryMax; ++i) {
    delay *= 2;
  }
  return std::min<std::chrono::nanoseconds>(delay, kRetryMax);
}

}  // namespace zcrecv::handoff
