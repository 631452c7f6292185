#pragma once

#include <chrono>
#include <cstddef>

namespace zcrecv::send {

/// How often, where and after what wait zcsend tries an input again (README "zcsend").
struct RetryPolicy {
  /// Attempts per input, the first included (--attempts).
  unsigned attempts = 10;
  /// The wait before the second attempt (--backoff); doubled per attempt after that.
  std::chrono::nanoseconds backoff = std::chrono::milliseconds(200);
  /// The longest wait between two attempts (--backoff-max).
  std::chrono::nanoseconds backoff_max = std::chrono::seconds(5);

  /// The wait before attempt `attempt` (2, 3, ...; 0 for the first): backoff doubled per
  /// earlier retry, at most backoff_max, then jittered into its upper half by `unit_random`
  /// (in [0, 1)), so that senders cut by the same failure do not all come back at once.
  [[nodiscard]] std::chrono::nanoseconds delay_before(unsigned attempt, double unit_random) const;

  /// The index into `count` addresses of attempt `attempt` (1, 2, ...) when the first goes to
  /// `first`: every retry moves on to the next address, round the list.
  [[nodiscard]] static std::size_t address_of(unsigned attempt, std::size_t first,
                                              std::size_t count);
};

}  // namespace zcrecv::send
